// BullMQ starts its sandboxed processor in a worker thread that lacks tsx's loader hooks, so this
// plain-JavaScript entry loads the TypeScript processor through tsx's public API.
import { tsImport } from 'tsx/esm/api';

const { processChunk } = await tsImport('./processor.ts', import.meta.url);

export default processChunk;
