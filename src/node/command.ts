/**
 * The shell around the study commands (`npm run eval`, `npm run eval:variants`): Ctrl+C cancels
 * at the next model call, and the errors a user can cause end with a message and an exit code
 * instead of a stack trace (usage: 2, unreadable model directory or a queue failure: 1, cancelled: 130).
 */
import { QueueError } from './queue/errors';
import { ModelDirError } from './runner';

export interface CommandErrors {
  /** the command's usage-error class, and the usage text printed with it */
  usageError: abstract new (
    ...args: never[]
  ) => Error;
  usage: string;
}

export async function runCommand(body: (signal: AbortSignal) => Promise<void>, errors: CommandErrors): Promise<number> {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\ncancelling at the next model call...\n');
    controller.abort();
  });
  try {
    await body(controller.signal);
    return 0;
  } catch (e) {
    if (e instanceof errors.usageError) {
      console.error(`error: ${e.message}\n${errors.usage}`);
      return 2;
    }
    if (e instanceof ModelDirError || e instanceof QueueError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    if (e instanceof DOMException && e.name === 'AbortError') {
      console.error('cancelled');
      return 130;
    }
    throw e;
  }
}
