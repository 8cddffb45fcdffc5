/**
 * Let queued messages run. ORT's WASM runs resolve as microtasks, so a generation loop would
 * otherwise never give the worker's onmessage a turn, and Cancel or a newer Generate would wait
 * for the whole run. A MessageChannel task is not clamped like a nested setTimeout (4 ms).
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}
