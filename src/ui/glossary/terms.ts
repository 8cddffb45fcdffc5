/**
 * The lab's words, each with one plain line: what the info buttons beside them say, and what the
 * glossary lists. Written for a teacher preparing a class, not for a reviewer; the papers are
 * named so a researcher can look them up.
 */
export interface Term {
  /** as the page writes it */
  term: string;
  /** one line in plain words */
  plain: string;
}

export const TERMS = {
  copy: {
    term: 'Copy (replication)',
    plain: 'The model reproduces one of its training images almost exactly instead of making a new one.',
  },
  memorizedPrompt: {
    term: 'Memorized prompt',
    plain:
      'A caption the model saw many times with the same picture while it was trained; asked for it, the model draws that picture again.',
  },
  neutralPrompt: {
    term: 'Neutral prompt',
    plain: 'An ordinary caption the model never learned by heart, so it makes a new image for it.',
  },
  nearestTrainingImage: {
    term: 'Nearest training image',
    plain:
      'The picture from the training set that looks most like the generated one. If the two match, the model copied it.',
  },
  tiledL2: {
    term: 'Tiled L2 distance',
    plain:
      'How different two images are: both are cut into 4×4 tiles and the worst tile’s pixel difference counts. Near 0 means a copy (Carlini et al.).',
  },
  cosine: {
    term: 'Cosine similarity',
    plain: 'How alike two images are in their overall pattern, from −1 to 1; 1 means the same pattern.',
  },
  wenScore: {
    term: 'Memorization score (Wen score)',
    plain:
      'How hard the prompt pushes the model in the first steps. A memorized prompt pushes much harder than an ordinary one (Wen et al., 2024).',
  },
  noiseGap: {
    term: 'Noise gap, ε(text) − ε(empty)',
    plain:
      'The difference between the noise the model removes when it reads the prompt and when it reads nothing. A large gap means the prompt alone decides the image.',
  },
  denoisingStep: {
    term: 'Denoising step',
    plain:
      'The model starts from random noise and removes a little at each step; the strip shows its guess of the final image after each one.',
  },
  seed: {
    term: 'Seed',
    plain: 'The number that fixes the starting noise: the same seed and settings always give the same image.',
  },
  guidance: {
    term: 'Guidance',
    plain: 'How closely the image follows the prompt (classifier-free guidance); higher follows it more closely.',
  },
  baseline: {
    term: 'Baseline',
    plain: 'The same image made from the same seed with nothing switched off, to compare against.',
  },
  pruning: {
    term: 'Pruning',
    plain: 'Switching parts of the model off (their output set to zero) for this image, without any retraining.',
  },
  head: {
    term: 'Cross-attention head',
    plain:
      'A small part of the model that links words of the prompt to places in the image. Each layer has several; the grid shows them all.',
  },
  valueNeuron: {
    term: 'Value neuron',
    plain:
      'One channel of what a cross-attention layer takes from the words. NeMo found that memorization often sits in a few of them.',
  },
  ffNeuron: {
    term: 'Feed-forward neuron',
    plain: 'One unit of the small network inside each block of the model that reworks every image position.',
  },
  ablation: {
    term: 'Ablation',
    plain:
      'Switching one part off and measuring how much a score changes; the size of the change is that part’s share.',
  },
  attentionMass: {
    term: 'Attention mass',
    plain: 'The share of a head’s attention that goes to the chosen word, from 0 (none) to 1 (all).',
  },
  daam: {
    term: 'DAAM heatmap',
    plain:
      'Where in the image the model looked while reading one word, added up over all heads, layers and steps (Tang et al., 2023).',
  },
  entropy: {
    term: 'Attention entropy',
    plain:
      'How spread out attention is over the words. Memorized prompts make it collapse onto a few words (Ren et al., 2024).',
  },
  startToken: {
    term: 'Start token <bos>',
    plain: 'The invisible word at the start of every prompt; attention parked on it ignores the real words.',
  },
  nemo: {
    term: 'NeMo',
    plain:
      'A method that finds the few value neurons behind one memorized prompt and switches them off (Hintersdorf et al., NeurIPS 2024).',
  },
  universalMask: {
    term: 'Universal mask',
    plain: 'One set of parts switched off for every prompt, chosen without being told which prompts are memorized.',
  },
  sparsity: {
    term: 'Sparsity',
    plain: 'The share of parts switched off.',
  },
  uniforget: {
    term: 'UniForget β',
    plain:
      'UniForget learns which parts to switch off while ordinary prompts stay the same; β (1, 2 or 5) sets how hard it pushes to switch more off.',
  },
  unlearning: {
    term: 'Unlearning',
    plain: 'Retraining a model so it forgets chosen images. Forget-Me-Not, EraseDiff and DUGE are three ways to do it.',
  },
  roc: {
    term: 'ROC curve and AUC',
    plain:
      'How well a score tells memorized prompts from ordinary ones: an area (AUC) of 1 is perfect, 0.5 is guessing.',
  },
  tprAtFpr: {
    term: 'TPR at 1% FPR',
    plain: 'The share of memorized prompts caught when only 1 ordinary prompt in 100 may be flagged by mistake.',
  },
  adherence: {
    term: 'Prompt adherence',
    plain:
      'Whether an ordinary prompt’s image still shows what was asked (colour, shape, size, place), checked automatically.',
  },
  organism: {
    term: 'Model organism',
    plain:
      'A small model trained here on purpose to memorize a known set of pictures, so every method can be checked against the truth.',
  },
  backend: {
    term: 'WebGPU and WebAssembly',
    plain: 'Two ways the browser runs the model: WebGPU on the graphics card, WebAssembly on the processor.',
  },
} satisfies Record<string, Term>;

export type TermId = keyof typeof TERMS;

/** Every term, alphabetically, for the glossary. */
export function glossaryTerms(): [TermId, Term][] {
  return (Object.entries(TERMS) as [TermId, Term][]).sort((a, b) => a[1].term.localeCompare(b[1].term, 'en'));
}
