/**
 * Triton's shared-memory methods over gRPC: `SystemSharedMemoryStatus/Register/Unregister`, answered by the
 * server's {@link SharedMemoryRegistry} as the HTTP routes answer them (the same checks and messages; without
 * `--allow-shm` every one is INVALID_ARGUMENT saying how to turn it on), and the CUDA ones, which this server
 * does not support (UNIMPLEMENTED, saying to use system shared memory). An empty name means every region, as
 * in Triton.
 * @module
 * @internal
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { badRequest } from '../http-error.js';
import { cudaSharedMemoryUnsupported } from '../routes/shared-memory.js';
import type { ServerContext } from '../server-context.js';
import { sharedMemoryDisabledMessage, type SharedMemoryRegistry } from '../shared-memory.js';
import type { callWrappers } from './calls.js';
import type { SharedMemoryRegisterRequest } from './messages.js';
import { GrpcError } from './status.js';

/** The registry, or the refusal every shared-memory request gets while the extension is off. */
function enabled(registry: SharedMemoryRegistry | null): SharedMemoryRegistry {
  if (registry === null) throw badRequest(sharedMemoryDisabledMessage);
  return registry;
}

/**
 * A register request as the HTTP route's JSON body: uint64 fields as numbers (one beyond 2^53 becomes a
 * double the registry refuses by name), an empty key as none (so the registry says it is missing).
 */
function registerBody(request: SharedMemoryRegisterRequest): Record<string, unknown> {
  return {
    ...(request.key === '' ? {} : { key: request.key }),
    offset: Number(request.offset),
    byte_size: Number(request.byte_size),
  };
}

/** The shared-memory methods of the service. */
export function sharedMemoryMethods(server: ServerContext, calls: ReturnType<typeof callWrappers>): UntypedServiceImplementation {
  const cuda = (method: string) => calls.unary(method, 'token', () => {
    throw new GrpcError('UNIMPLEMENTED', cudaSharedMemoryUnsupported);
  });
  return {
    SystemSharedMemoryStatus: calls.unary('SystemSharedMemoryStatus', 'token', (request: { name: string }) => {
      const regions = enabled(server.sharedMemory).status(request.name === '' ? undefined : request.name);
      return { regions: Object.fromEntries(regions.map((region) => [region.name, region])) };
    }),
    SystemSharedMemoryRegister: calls.unary('SystemSharedMemoryRegister', 'token', (request: SharedMemoryRegisterRequest) => {
      enabled(server.sharedMemory).register(request.name, registerBody(request));
      return {};
    }),
    SystemSharedMemoryUnregister: calls.unary('SystemSharedMemoryUnregister', 'token', (request: { name: string }) => {
      enabled(server.sharedMemory).unregister(request.name === '' ? undefined : request.name);
      return {};
    }),
    CudaSharedMemoryStatus: cuda('CudaSharedMemoryStatus'),
    CudaSharedMemoryRegister: cuda('CudaSharedMemoryRegister'),
    CudaSharedMemoryUnregister: cuda('CudaSharedMemoryUnregister'),
  };
}
