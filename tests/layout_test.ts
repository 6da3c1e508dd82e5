import { EVENT_HEADER } from "../sensors/event.ts";
import { PROCESS_EVENT, SCOPE_ENTRY } from "../sensors/process.ts";
import { assertLayoutMatchesBtf } from "./helpers/btf.ts";
import { ROOT } from "./helpers/kernel.ts";

const processObject = `${ROOT}bpf/build/sensor.process.bpf.o`;

for (const layout of [EVENT_HEADER, PROCESS_EVENT, SCOPE_ENTRY]) {
  Deno.test(`${layout.name} decoder layout matches sensor.process BTF`, async () => {
    await assertLayoutMatchesBtf(processObject, layout);
  });
}
