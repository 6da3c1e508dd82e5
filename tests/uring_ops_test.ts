/**
 * The IORING_OP_* names events give (sensors/uring_ops.ts) are the
 * kernel's: checked against `enum io_uring_op` in sensor.file-system's
 * BTF, which the object carries for its CO-RE opcode checks.
 */
import assert from "node:assert/strict";
import { UringOp, uringOpName } from "../sensors/uring_ops.ts";
import { btfEnum } from "./helpers/btf.ts";
import { ROOT } from "./helpers/kernel.ts";

Deno.test("every IORING_OP_* in the table has the kernel's value", async () => {
  const kernel = await btfEnum(
    `${ROOT}bpf/build/sensor.file-system.bpf.o`,
    "io_uring_op",
  );
  for (const [name, value] of Object.entries(UringOp)) {
    assert.equal(kernel[name], value, name);
  }
  assert.equal(uringOpName(UringOp.IORING_OP_WRITE), "IORING_OP_WRITE");
  assert.equal(uringOpName(200), "IORING_OP_200");
});
