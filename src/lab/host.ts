// How the CLI on the machine finds a lab's manager without flags. Kept apart
// from lab.ts so the CLI's start-up imports only this (a stat, a read, at most
// one connect).
import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { DEFAULT_CONFIG, STATE_FILE } from "./plan.ts";
import { managerNode, parseState } from "./state.ts";

export const LAB_STATE_FILE = `${DEFAULT_CONFIG.stateDir}/${STATE_FILE}`;

/**
 * The daemon address to use when neither -H nor SWARMNET_HOST gives one.
 * The default socket wins whenever a daemon answers there (a real swarmnet on
 * this machine); otherwise, if a lab is recorded on this machine, its manager
 * (node1's socket) — so after `swarmnet lab up`, `swarmnet node ls` just works.
 * Without a lab this costs one failed stat.
 */
export async function defaultHost(fallback: string, stateFile = LAB_STATE_FILE): Promise<string> {
  let labHost: string;
  try {
    labHost = managerNode(parseState(readFileSync(stateFile, "utf8"))).host;
  } catch {
    return fallback; // no lab (or a damaged state file: `lab status` says so)
  }
  if (!fallback.startsWith("unix://")) return fallback;
  const path = fallback.slice("unix://".length);
  if (existsSync(path) && (await answers(path))) return fallback;
  return labHost;
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}
