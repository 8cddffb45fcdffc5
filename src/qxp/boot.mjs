import { tsImport } from 'tsx/esm/api';
const { processIt } = await tsImport('./proc.ts', import.meta.url);
export default processIt;
