import { CloseCode, ErrorCode, SessionClosedError, type Session } from "@grpc-ws/wire";
import { setDeadline } from "@grpc-ws/wire/internal";

export const CREDENTIALS_EXPIRED = "credentials expired";

/**
 * Ends a connection when its credentials expire: GOAWAY(NO_ERROR, "credentials expired"), so the
 * client opens no more streams here and reconnects (authenticating again) for new calls; calls in
 * flight may finish, and whatever still runs after `drainMs` is cancelled through `cancelRest`.
 * Returns a function that stops watching (the connection closed first).
 */
export function watchExpiry(
  expiresAt: number | undefined,
  session: Session,
  drainMs: number,
  cancelRest: (message: string) => void,
): () => void {
  if (expiresAt === undefined) return noop;
  let cut: ReturnType<typeof setTimeout> | undefined;
  const stopDeadline = setDeadline(Math.max(0, expiresAt - Date.now()), () => {
    if (session.closed) return;
    session.goAway(ErrorCode.NO_ERROR, CREDENTIALS_EXPIRED);
    cut = setTimeout(() => cancelRest(CREDENTIALS_EXPIRED), drainMs);
    void session.whenIdle().then(() => {
      clearTimeout(cut);
      session.close(new SessionClosedError(CREDENTIALS_EXPIRED), CloseCode.NORMAL);
    });
  });
  return () => {
    stopDeadline();
    clearTimeout(cut);
  };
}

function noop(): void {}
