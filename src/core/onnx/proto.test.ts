import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SD1, SD2 } from '../../node/onnx-testing';
import { topologicalOrder } from './graph';
import { decodeModel, EXTERNAL_DATA, encodeModel, encodeModelChunks } from './proto';

describe('ONNX ModelProto decoding and encoding', () => {
  it.each([
    join(SD1, 'unet/model.onnx'),
    join(SD1, 'unet-fused/olive-recipe/model.onnx'),
    join(SD1, 'text_encoder/model.onnx'),
    join(SD2, 'unet/model.onnx'),
  ])('round-trips %s byte for byte', (path) => {
    const bytes = new Uint8Array(readFileSync(path));
    expect(Buffer.from(encodeModel(decodeModel(bytes))).equals(Buffer.from(bytes))).toBe(true);
  });

  it('keeps embedded weights as views of the input and never reads external ones', () => {
    const bytes = new Uint8Array(readFileSync(join(SD1, 'text_encoder/model.onnx')));
    const model = decodeModel(bytes);
    const big = model.graph?.initializer.filter((t) => (t.rawData?.byteLength ?? 0) > 1024) ?? [];
    expect(big.length).toBeGreaterThan(0);
    for (const t of big) expect(t.rawData?.buffer).toBe(bytes.buffer);
    const unet = decodeModel(new Uint8Array(readFileSync(join(SD1, 'unet/model.onnx'))));
    const external = unet.graph?.initializer.filter((t) => t.dataLocation === EXTERNAL_DATA) ?? [];
    expect(external.length).toBeGreaterThan(0);
    for (const t of external) {
      expect(t.rawData?.byteLength ?? 0).toBe(0);
      expect(t.externalData?.find((e) => e.key === 'location')?.value).toBe('weights.pb');
    }
  });

  it('chunked encoding reads back as the same model, big tensors last', () => {
    const bytes = new Uint8Array(readFileSync(join(SD1, 'text_encoder/model.onnx')));
    const chunks = encodeModelChunks(decodeModel(bytes), 1024);
    expect(chunks.length).toBeGreaterThan(3);
    const joined = new Uint8Array(chunks.reduce((s, c) => s + c.byteLength, 0));
    let at = 0;
    for (const c of chunks) {
      joined.set(c, at);
      at += c.byteLength;
    }
    const a = decodeModel(bytes).graph;
    const b = decodeModel(joined).graph;
    expect(b?.node.length).toBe(a?.node.length);
    const byName = new Map(b?.initializer.map((t) => [t.name, t]));
    for (const t of a?.initializer ?? []) {
      const u = byName.get(t.name);
      expect(u?.dims?.map(Number)).toEqual(t.dims?.map(Number));
      expect(Buffer.from(u?.rawData ?? []).equals(Buffer.from(t.rawData ?? []))).toBe(true);
    }
  });

  it('writes back fields this schema does not know (newer ONNX releases)', () => {
    const bytes = new Uint8Array(readFileSync(join(SD1, 'unet/model.onnx')));
    // an unknown varint field 99 = 7 appended to the ModelProto
    const unknown = Uint8Array.from([0x98, 0x06, 0x07]);
    const extended = new Uint8Array(bytes.byteLength + unknown.byteLength);
    extended.set(bytes);
    extended.set(unknown, bytes.byteLength);
    const back = encodeModel(decodeModel(extended));
    expect(Buffer.from(back).equals(Buffer.from(extended))).toBe(true);
  });

  it('throws on a truncated model', () => {
    const bytes = new Uint8Array(readFileSync(join(SD1, 'unet/model.onnx')));
    expect(() => decodeModel(bytes.subarray(0, 1000))).toThrow();
  });
});

describe('topologicalOrder', () => {
  const node = (name: string, input: string[], output: string[]) => ({ name, input, output, attribute: [] });

  it('puts producers first and keeps the given order where it is valid', () => {
    const a = node('a', ['x'], ['ta']);
    const b = node('b', ['ta'], ['tb']);
    const c = node('c', ['x'], ['tc']);
    const d = node('d', ['tb', 'tc'], ['y']);
    expect(topologicalOrder([d, c, b, a], ['x']).map((n) => n.name)).toEqual(['c', 'a', 'b', 'd']);
    expect(topologicalOrder([a, b, c, d], ['x']).map((n) => n.name)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('throws on a cycle', () => {
    expect(() => topologicalOrder([node('a', ['tb'], ['ta']), node('b', ['ta'], ['tb'])], [])).toThrow(/cycle/);
  });
});
