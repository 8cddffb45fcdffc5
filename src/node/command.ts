/**
 * The shell around every command of the lab (`npm run generate`, `eval`, `eval:variants`,
 * `model:verify`, `instrument`, `copy-check`): `--help` prints the usage, Ctrl+C cancels a long
 * study at the next model call, and the errors a user can cause end with a message and an exit code
 * instead of a stack trace (help: 0, usage: 2, unreadable model or input: 1, cancelled: 130).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HelpRequested, UsageError } from './options';
import { ModelDirError } from './runner';

export interface Command {
  /** printed for --help, and after a usage error */
  usage: string;
  /**
   * Parses `argv` (throwing UsageError or HelpRequested, see options.ts) and does the work; may
   * return an exit status other than 0 (e.g. 1 when some of its inputs could not be read).
   */
  run: (argv: string[], signal: AbortSignal) => Promise<number | undefined>;
  /** run stops at the next model call once `signal` is aborted: Ctrl+C aborts it, a second one ends the process */
  cancellable?: boolean;
  /** errors besides ModelDirError that come from the user's input: their message (and `detail`), exit status 1 */
  inputErrors?: (abstract new (
    ...args: never[]
  ) => Error)[];
}

export async function runCommand(command: Command, argv: string[]): Promise<number> {
  const controller = new AbortController();
  const cancel = () => {
    process.stderr.write('\ncancelling at the next model call...\n');
    controller.abort();
  };
  if (command.cancellable) process.once('SIGINT', cancel);
  try {
    return (await command.run(argv, controller.signal)) ?? 0;
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(command.usage);
      return 0;
    }
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n${command.usage}`);
      return 2;
    }
    if (e instanceof ModelDirError || command.inputErrors?.some((type) => e instanceof type)) {
      const { message, detail } = e as Error & { detail?: unknown };
      console.error(`error: ${message}${typeof detail === 'string' ? `\ndetails: ${detail}` : ''}`);
      return 1;
    }
    if (e instanceof DOMException && e.name === 'AbortError') {
      console.error('cancelled');
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', cancel);
  }
}

/** Runs the command on the process's arguments when `moduleUrl` is the script node was started with. */
export async function runIfMain(moduleUrl: string, command: Command): Promise<void> {
  const script = process.argv[1];
  if (script && moduleUrl === pathToFileURL(resolve(script)).href) {
    process.exitCode = await runCommand(command, process.argv.slice(2));
  }
}
