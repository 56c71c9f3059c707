// A request body that is not valid protobuf is the client's error: INVALID_ARGUMENT
// (SPEC §4), where grpc-js answers INTERNAL for any deserializer that throws. So every
// service is registered with a deserializer that never throws: it returns a marker
// instead, and a server interceptor answers the marker before any handler sees it.
import * as grpc from '@grpc/grpc-js';

const UNDECODABLE = Symbol('undecodable request');

interface Undecodable {
  readonly [UNDECODABLE]: string;
}

function isUndecodable(message: unknown): message is Undecodable {
  return typeof message === 'object' && message !== null && UNDECODABLE in message;
}

/** A copy of `definition` whose request deserializers return a marker instead of throwing. */
export function tolerantDefinition(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    const decode = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (e) {
          const why: Undecodable = { [UNDECODABLE]: e instanceof Error ? e.message : String(e) };
          return why;
        }
      },
    };
  }
  return out;
}

/**
 * Something with an addService like the server's, for libraries that register
 * their own services (health, reflection): they get tolerant deserializers too.
 */
export function tolerantRegistrar(server: grpc.Server): grpc.Server {
  const registrar: Pick<grpc.Server, 'addService'> = {
    addService: (service, implementation) => server.addService(tolerantDefinition(service), implementation),
  };
  // Those libraries call only addService (grpc-health-check, @grpc/reflection).
  return registrar as grpc.Server;
}

/**
 * Answers a marked message with INVALID_ARGUMENT; `onRefused` sees the method's
 * path and why (for metrics and the log).
 */
export function undecodableInterceptor(onRefused: (path: string, why: string) => void): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message: unknown, pass) => {
            if (!isUndecodable(message)) return pass(message);
            onRefused(method.path, message[UNDECODABLE]);
            call.sendStatus({ code: grpc.status.INVALID_ARGUMENT, details: `the request is not a valid protobuf message for ${method.path}` });
          },
        }),
    });
}
