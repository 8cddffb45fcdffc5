"""The data generator is a pure function of its seed: the same seed gives the same bytes, and the
committed model's data files (planted images, training index, prompt sets) come out of it again."""
from __future__ import annotations

import json
import os
import unittest

import numpy as np

from memlab import data
from memlab.export import thumbnails

ORGANISM = os.path.join(os.path.dirname(__file__), "..", "..", "public", "models", "memlab-organism")
SMALL = 200  # scenes: the first ones of the full stream, enough to compare and fast to render


class Determinism(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = data.build_dataset(0, n_compositional=SMALL)

    def test_the_same_seed_gives_the_same_dataset(self):
        b = data.build_dataset(0, n_compositional=SMALL)
        self.assertTrue(np.array_equal(self.a.images, b.images))
        self.assertEqual(self.a.captions, b.captions)
        self.assertEqual(self.a.neutral_prompts, b.neutral_prompts)
        self.assertEqual(self.a.memorized, b.memorized)

    def test_another_seed_gives_other_scenes_but_the_same_planted_images(self):
        c = data.build_dataset(1, n_compositional=SMALL)
        self.assertFalse(np.array_equal(self.a.scene_images, c.scene_images))
        self.assertNotEqual(self.a.neutral_prompts, c.neutral_prompts)
        self.assertTrue(np.array_equal(self.a.unique_images, c.unique_images))

    def test_held_out_neutral_prompts_never_appear_in_training(self):
        self.assertEqual(len(self.a.neutral_prompts), data.N_NEUTRAL)
        self.assertFalse(set(self.a.neutral_prompts) & set(self.a.captions))

    def test_renderers_are_functions_of_their_seed(self):
        self.assertTrue(np.array_equal(data.render_artwork(1003), data.render_artwork(1003)))
        self.assertFalse(np.array_equal(data.render_artwork(1003), data.render_artwork(1004)))
        self.assertTrue(np.array_equal(data.render_template(2001), data.render_template(2001)))

    def test_captions_tokenize_to_fixed_length_with_unknown_words_marked(self):
        vocab = data.vocabulary()
        ids = data.tokenize("a painting of zephyr", vocab)
        self.assertEqual(len(ids), data.MAX_TOKENS)
        self.assertEqual(ids[0], data.BOS_ID)
        self.assertEqual(ids[5], data.EOS_ID)
        self.assertEqual(set(ids[6:]), {data.PAD_ID})
        self.assertEqual(data.tokenize("a dragon", vocab)[2], data.UNK_ID)


@unittest.skipUnless(os.path.exists(os.path.join(ORGANISM, "manifest.json")), "no committed organism")
class CommittedDataFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ds = data.build_dataset(0, n_compositional=SMALL)
        with open(os.path.join(ORGANISM, "manifest.json")) as f:
            cls.manifest = json.load(f)

    def read(self, entry: str) -> np.ndarray:
        return np.fromfile(os.path.join(ORGANISM, self.manifest["files"][entry]["path"]), dtype=np.uint8)

    def test_planted_images_are_byte_identical(self):
        self.assertTrue(np.array_equal(self.read("memorizedImages"), self.ds.unique_images.ravel()))

    def test_the_training_index_starts_with_these_thumbnails(self):
        index = self.read("trainIndex").reshape(-1, 8, 8, 3)
        planted = len(self.ds.unique_images)
        self.assertEqual(len(index), planted + data.N_COMPOSITIONAL)
        self.assertTrue(np.array_equal(index[:planted], thumbnails(self.ds.unique_images)))
        self.assertTrue(np.array_equal(index[planted:planted + SMALL], thumbnails(self.ds.scene_images)))

    def test_the_prompt_sets_are_the_generator_s(self):
        self.assertEqual(self.manifest["neutralPrompts"], self.ds.neutral_prompts)
        self.assertEqual(self.manifest["trainPromptsSample"], self.ds.train_scene_captions[:64])
        self.assertEqual([m["id"] for m in self.manifest["memorized"]], [m["id"] for m in self.ds.memorized])


if __name__ == "__main__":
    unittest.main()
