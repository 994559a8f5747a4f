// Task output as agents ship it, kept in memory per task (the last lines
// only). `service logs` reads it here; the agent keeps the full log on its
// node. Not persisted: a manager restart starts with what agents send next.
export const LINES_PER_TASK = 2_000;

export interface LogLine {
  taskId: string;
  line: string;
  time: string;
}

export class LogBook {
  private readonly byTask = new Map<string, LogLine[]>();

  append(taskId: string, lines: string[], time = new Date().toISOString()): void {
    const list = this.byTask.get(taskId) ?? [];
    for (const line of lines) list.push({ taskId, line, time });
    if (list.length > LINES_PER_TASK) list.splice(0, list.length - LINES_PER_TASK);
    this.byTask.set(taskId, list);
  }

  lines(taskIds: string[]): LogLine[] {
    return taskIds
      .flatMap((id) => this.byTask.get(id) ?? [])
      .sort((a, b) => a.time.localeCompare(b.time));
  }

  forget(taskId: string): void {
    this.byTask.delete(taskId);
  }
}
