/**
 * The exporters that pull in large libraries (gRPC, protobuf and
 * OpenTelemetry: most of the agent's code by size), loaded only when a
 * policy configures one. Load them with `loadOptionalExporters()`
 * (`optional_loader.ts`); never import them from code every run loads.
 *
 * @module
 */

export { OtlpExporter } from "./otlp.ts";
export { GrpcExporter } from "./grpc.ts";
