/**
 * Regenerates src/core/onnx/third-party/onnx/onnx-ml.descriptor.json from the vendored onnx-ml.proto
 * (run `npx tsx scripts/onnx-descriptor.ts` after replacing the .proto). The lab loads the JSON
 * descriptor with protobufjs/light, so no .proto text is parsed at run time.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const dir = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'src/core/onnx/third-party/onnx');
const root = protobuf.loadSync(join(dir, 'onnx-ml.proto'));
writeFileSync(join(dir, 'onnx-ml.descriptor.json'), `${JSON.stringify(root.toJSON(), null, 2)}\n`);
