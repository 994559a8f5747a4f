// Keeps the node's one DNS server listening at 127.0.0.11:53 inside exactly
// the sandboxes that exist: sockets are opened in a sandbox once its
// namespace is there and before its task starts (so the task's first lookup
// is answered), and closed when the sandbox goes.
import { openSandboxSockets } from "../dns/netns-sockets.ts";
import type { DnsServer } from "../dns/server.ts";

export class SandboxDns {
  private readonly server: DnsServer;
  private readonly netnsPath: (ownerId: string) => string;
  private readonly log: (line: string) => void;
  private readonly attached = new Set<string>();

  constructor(
    server: DnsServer,
    netnsPath: (ownerId: string) => string,
    log: (line: string) => void,
  ) {
    this.server = server;
    this.netnsPath = netnsPath;
    this.log = log;
  }

  /** Listens in exactly these sandboxes. A sandbox whose sockets cannot be
   * opened is logged and retried on the next call; the others go on. */
  async sync(ownerIds: string[]): Promise<void> {
    const wanted = new Set(ownerIds);
    for (const id of this.attached) {
      if (wanted.has(id)) continue;
      this.server.detach(id);
      this.attached.delete(id);
    }
    await Promise.all(
      ownerIds
        .filter((id) => !this.attached.has(id))
        .map(async (id) => {
          try {
            const sockets = await openSandboxSockets(this.netnsPath(id));
            this.server.attach(id, sockets);
            this.attached.add(id);
          } catch (err) {
            this.log(`agent: DNS for sandbox ${id}: ${(err as Error).message}`);
          }
        }),
    );
  }

  close(): void {
    for (const id of this.attached) this.server.detach(id);
    this.attached.clear();
  }
}
