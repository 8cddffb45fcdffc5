/**
 * A small multi-seed grid on demand: the same experiment at a few consecutive seeds, baseline and
 * pruned per seed, each with its nearest-training-image similarity. One seed can be luck; a copy
 * that survives every seed is memorization. Cells run one after another on the inference worker.
 */
import { prunedCount } from '../../core/experiment/experiment';
import { SEED_GRID_SIZE } from '../../state/store';
import type { VariantScores } from '../../workers/analysis-protocol';
import { PixelImage } from '../views';
import { useLab, useLabActions } from '../StoreContext';

function scoreLine(v: VariantScores | undefined): string {
  if (!v) return '…';
  const r = v.replication;
  return r ? `cos ${r.cosine.toFixed(2)} · ${r.memorized ? 'memorized' : 'scene'}` : `mem ${v.memorization.toFixed(2)}`;
}

const rowNames = (variants: number) => (variants === 2 ? ['baseline', 'pruned'] : ['image']);

export function SeedGridPanel() {
  const grid = useLab((s) => s.seedGrid);
  const status = useLab((s) => s.status);
  const masks = useLab((s) => s.masks);
  const seed = useLab((s) => s.seed);
  const actions = useLabActions();
  const rows = prunedCount(masks) > 0 ? ['baseline', 'pruned'] : ['baseline'];
  const running = grid?.status === 'running';
  const done = grid ? grid.cells.filter((c) => c.images).length : 0;

  return (
    <section className="lab-seeds" aria-label="Seed grid" data-testid="seed-grid">
      <div className="lab-controls">
        <button
          type="button"
          className="secondary small"
          disabled={status !== 'ready' || running}
          onClick={() => actions.runSeedGrid(SEED_GRID_SIZE)}
          data-testid="run-seed-grid"
        >
          {`Seed grid: seeds ${seed}–${seed + SEED_GRID_SIZE - 1}`}
        </button>
        {grid ? (
          <span className="hint" aria-live="polite">
            {running
              ? `generating ${done + 1} of ${grid.cells.length}…`
              : grid.status === 'stopped'
                ? `stopped after ${done} of ${grid.cells.length} (a newer run took over)`
                : `${done} seeds`}
          </span>
        ) : null}
      </div>
      {grid ? (
        <table className="lab-seed-table">
          <caption className="mv-sr-only">
            Images per seed, with the similarity of each to its nearest training image
          </caption>
          <thead>
            <tr>
              <th scope="col" />
              {grid.cells.map((c) => (
                <th key={c.seed} scope="col">
                  seed {c.seed}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rowNames(grid.cells.find((c) => c.images)?.images?.length ?? rows.length).map((row, v) => (
              <tr key={row}>
                <th scope="row">{row}</th>
                {grid.cells.map((c) => (
                  <td key={c.seed}>
                    {c.images?.[v] ? (
                      <>
                        <PixelImage
                          rgba={c.images[v].data}
                          width={c.images[v].width}
                          height={c.images[v].height}
                          size={72}
                          label={`${row}, seed ${c.seed}`}
                        />
                        <span className="hint">{scoreLine(c.scores?.[v])}</span>
                      </>
                    ) : (
                      <span className="hint">—</span>
                    )}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
