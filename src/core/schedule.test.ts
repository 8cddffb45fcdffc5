import { describe, expect, it } from 'vitest';
import {
  alphaPrev,
  alphasCumprod,
  classifierFreeGuidance,
  ddimStep,
  ddimTimesteps,
  linspaceLikeTorch,
  noiseGap,
} from './schedule';

const schedule = {
  kind: 'linear' as const,
  betaStart: 1e-4,
  betaEnd: 0.02,
  trainSteps: 1000,
  prediction: 'epsilon' as const,
  spacing: 'trailing' as const,
  clipSample: true,
  useClippedModelOutput: true,
};

describe('alphasCumprod', () => {
  it('equals torch.cumprod(1 - linspace(float64)).float() bit for bit at sampled indices', () => {
    // from training/memlab/model.py alphas_cumprod() under torch 1.13
    const torchValues: [number, number][] = [
      [0, 0.9998999834060669],
      [1, 0.9997801184654236],
      [499, 0.07858724147081375],
      [998, 4.118193464819342e-5],
      [999, 4.0358296246267855e-5],
    ];
    const acp = alphasCumprod(schedule);
    expect(acp.length).toBe(1000);
    for (const [i, v] of torchValues) expect(acp[i]).toBe(v);
  });

  it('uses torch linspace endpoints and its two-sided stepping', () => {
    const b = linspaceLikeTorch(1e-4, 0.02, 1000);
    expect(b[0]).toBe(1e-4);
    expect(b[999]).toBe(0.02);
    expect(b[500]).toBe(0.01005995995995996);
    expect(b[333]).toBe(0.006733333333333333);
  });
});

describe('ddimTimesteps (trailing spacing)', () => {
  it('matches training/memlab/sampling.py ddim_timesteps, including Python round-half-even', () => {
    expect(ddimTimesteps(1, 1000)).toEqual([999]);
    expect(ddimTimesteps(3, 1000)).toEqual([999, 666, 332]);
    expect(ddimTimesteps(7, 1000)).toEqual([999, 856, 713, 570, 428, 285, 142]);
    expect(ddimTimesteps(16, 1000)).toEqual([
      999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61,
    ]);
    expect(ddimTimesteps(25, 1000).slice(-3)).toEqual([119, 79, 39]);
    expect(ddimTimesteps(1000, 1000).slice(0, 5)).toEqual([999, 998, 997, 996, 995]);
  });

  it('gives strictly decreasing, in-range timesteps for every step count', () => {
    const bad: number[] = [];
    for (let steps = 1; steps <= 1000; steps++) {
      const ts = ddimTimesteps(steps, 1000);
      const ok =
        ts.length === steps && ts[0] === 999 && ts[steps - 1] >= 0 && ts.every((t, i) => i === 0 || t < ts[i - 1]);
      if (!ok) bad.push(steps);
    }
    expect(bad).toEqual([]);
  });

  it('refuses 0, fractional and too many steps', () => {
    for (const s of [0, 2.5, 1001]) expect(() => ddimTimesteps(s, 1000)).toThrow(RangeError);
  });
});

describe('ddimStep', () => {
  const acp = alphasCumprod(schedule);
  const ts = ddimTimesteps(25, 1000);
  const x = new Float32Array([0.5, -2, 3, 0]);
  const eps = new Float32Array([0.1, 0.3, -1, 2]);
  // torch: sampling.py's update with these x, eps at step i of 25
  const torchSteps: [number, number[], number[]][] = [
    [0, [1, -1, 1, -1], [0.5030758380889893, -2.0030393600463867, 3.0030148029327393, -0.0030880109407007694]],
    [12, [1, -1, 1, -1], [0.5523755550384521, -2.0266432762145996, 3.009488105773926, -0.060953035950660706]],
    [24, [0.4908614456653595, -1, 1, -0.28096678853034973], [0.4908614456653595, -1, 1, -0.28096678853034973]],
  ];

  for (const [i, x0Torch, prevTorch] of torchSteps) {
    it(`matches torch at step ${i} of 25 (clipped x0, re-derived eps)`, () => {
      const out = { x0: new Float32Array(4), prev: new Float32Array(4) };
      ddimStep(x, eps, acp[ts[i]], alphaPrev(acp, ts, i), schedule, out);
      for (let k = 0; k < 4; k++) {
        expect(out.x0[k]).toBeCloseTo(x0Torch[k], 5);
        expect(out.prev[k]).toBeCloseTo(prevTorch[k], 5);
      }
    });
  }

  it('without clipping follows the textbook formula and may update in place', () => {
    const a = 0.5;
    const ap = 0.8;
    const sample = new Float32Array([0.7, -0.4]);
    const e = new Float32Array([0.2, 1.5]);
    const expectedX0 = [(0.7 - Math.sqrt(0.5) * 0.2) / Math.sqrt(0.5), (-0.4 - Math.sqrt(0.5) * 1.5) / Math.sqrt(0.5)];
    const expectedPrev = expectedX0.map((v, k) => Math.sqrt(ap) * v + Math.sqrt(1 - ap) * e[k]);
    const noClip = { clipSample: false, useClippedModelOutput: true };
    const out = ddimStep(sample, e, a, ap, noClip, { x0: new Float32Array(2), prev: sample });
    expect(out.prev).toBe(sample);
    for (let k = 0; k < 2; k++) {
      expect(out.x0[k]).toBeCloseTo(expectedX0[k], 6);
      expect(sample[k]).toBeCloseTo(expectedPrev[k], 6);
    }
  });

  it('clips x0 but keeps the model noise without useClippedModelOutput (stock DDIM)', () => {
    const a = 0.5;
    const ap = 0.8;
    const sample = new Float32Array([3, -0.1]);
    const e = new Float32Array([0.2, 0.1]);
    const stock = ddimStep(
      sample,
      e,
      a,
      ap,
      { clipSample: true, useClippedModelOutput: false },
      {
        x0: new Float32Array(2),
        prev: new Float32Array(2),
      },
    );
    const rederived = ddimStep(sample, e, a, ap, schedule, { x0: new Float32Array(2), prev: new Float32Array(2) });
    // element 0 is clipped (x0 = 3.96 -> 1): the two rules differ there; element 1 is not
    expect(stock.x0[0]).toBe(1);
    expect(stock.prev[0]).toBeCloseTo(Math.sqrt(ap) + Math.sqrt(1 - ap) * 0.2, 6);
    const eps0 = (3 - Math.sqrt(a)) / Math.sqrt(1 - a);
    expect(rederived.prev[0]).toBeCloseTo(Math.sqrt(ap) + Math.sqrt(1 - ap) * eps0, 6);
    expect(stock.prev[1]).toBe(rederived.prev[1]);
  });
});

describe('classifierFreeGuidance and noiseGap', () => {
  it('extrapolates from the unconditional towards the conditional prediction', () => {
    const out = classifierFreeGuidance(new Float32Array([1, 0]), new Float32Array([2, -1]), 4, new Float32Array(2));
    expect(Array.from(out)).toEqual([5, -4]);
    expect(
      Array.from(classifierFreeGuidance(new Float32Array([1]), new Float32Array([3]), 1, new Float32Array(1))),
    ).toEqual([3]);
  });

  it('measures the L2 distance between conditional and unconditional noise', () => {
    expect(noiseGap(new Float32Array([1, 1, 0]), new Float32Array([4, 5, 0]))).toBe(5);
    expect(noiseGap(new Float32Array(3), new Float32Array(3))).toBe(0);
  });
});
