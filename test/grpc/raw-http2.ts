// gRPC by hand over HTTP/2, for requests no generated client would send: bodies
// that are not protobuf, broken length prefixes, odd headers.
import { connect, constants, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';

export interface RawGrpcAnswer {
  /** grpc-status from the trailers (or headers, for a trailers-only answer); null if none came. */
  readonly grpcStatus: number | null;
  readonly grpcMessage: string;
  readonly httpStatus: number;
}

/** One gRPC message frame: a compression flag, a 4-byte big-endian length, the bytes. */
export function grpcFrame(message: Uint8Array, lengthOverride?: number): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(lengthOverride ?? message.length, 1);
  return Buffer.concat([head, message]);
}

export function rawSession(port: number): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = connect(`http://127.0.0.1:${port}`);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends `body` as the request of `path` (leaving the stream open when `end` is false) and collects the answer's status. */
export function rawGrpcCall(session: ClientHttp2Session, path: string, body: Uint8Array, headers: OutgoingHttpHeaders = {}, timeoutMs = 5_000, end = true): Promise<RawGrpcAnswer> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let httpStatus = 0;
    let grpcStatus: number | null = null;
    let grpcMessage = '';
    const done = (): void => {
      clearTimeout(timer);
      resolve({ grpcStatus, grpcMessage, httpStatus });
    };
    // The status ends the answer even when our side of the stream is still open.
    const read = (h: Record<string, unknown>): void => {
      if (typeof h['grpc-message'] === 'string') grpcMessage = decodeURIComponent(h['grpc-message']);
      if (h['grpc-status'] === undefined) return;
      grpcStatus = Number(h['grpc-status']);
      if (!end) req.close();
      done();
    };
    const timer = setTimeout(() => {
      req.close(constants.NGHTTP2_CANCEL);
      reject(new Error(`no answer to ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('response', (h) => {
      httpStatus = Number(h[constants.HTTP2_HEADER_STATUS]);
      read(h);
    });
    req.on('trailers', read);
    req.on('data', () => {});
    req.on('close', done);
    req.on('error', () => {});
    if (end) req.end(Buffer.from(body));
    else req.write(Buffer.from(body));
  });
}
