// Koa, without its per-request "finished" listeners on the requests whose routes
// answer directly (answer.ts). For every request Koa's handleRequest calls
// on-finished, which makes an AsyncResource and adds and later removes two
// listeners on the response and two on the socket (ee-first): ~4% of a leader's
// CPU at 64-client PUT load. All they do is hand an error of the socket to the
// app's 'error' event after the answer was decided; the HTTP server reports the
// same error as 'clientError' (listener.ts logs it), and a streamed body's own
// cleanup is Koa's body setter's, which every other request still goes through.
import type { IncomingMessage } from 'node:http';
import Koa from 'koa';

type Dispatch = (ctx: Koa.Context) => Promise<unknown>;

/** Koa's request handling as its callback() calls it (an internal method, not in Koa's types). */
interface KoaRequestHandling {
  handleRequest(ctx: Koa.Context, fnMiddleware: Dispatch): Promise<unknown>;
}

const koaHandleRequest = (Koa.prototype as unknown as KoaRequestHandling).handleRequest;

export class DirectKoa extends Koa {
  /** `answersDirectly(req)`: the request's route always answers through answer.ts (ctx.respond = false), errors included. */
  constructor(private readonly answersDirectly: (req: IncomingMessage) => boolean) {
    super();
  }

  /** Called by Koa's callback() for each request. */
  handleRequest(ctx: Koa.Context, fnMiddleware: Dispatch): Promise<unknown> {
    if (!this.answersDirectly(ctx.req)) return koaHandleRequest.call(this, ctx, fnMiddleware);
    ctx.res.statusCode = 404;
    return fnMiddleware(ctx).then(
      () => {
        // A route that left its answer to Koa after all: a bug; Koa's own error answer rather than no answer.
        if (ctx.respond !== false) ctx.onerror(new Error(`${ctx.req.method} ${ctx.path} left its answer to Koa on a route answered directly`));
      },
      (err: unknown) => ctx.onerror(err as Error),
    );
  }
}
