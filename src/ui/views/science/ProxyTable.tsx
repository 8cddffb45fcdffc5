import { format } from 'd3';
import type { ProxyConditionResult } from '../../../core/science/proxy-evaluate';

export interface ProxyTableProps {
  conditions: readonly ProxyConditionResult[];
  /** why replication is not shown (the report's words) */
  reason: string;
}

const pct = format('.0%');
const f3 = format('.3f');

/**
 * The evaluation of a model without training images: per condition, the memorized prompts' noise
 * gap as a share of the unpruned model's and how far each mask moves memorized and neutral images;
 * with reference images, the replication rate and its 95% interval too.
 */
export function ProxyTable({ conditions, reason }: ProxyTableProps) {
  const replication = conditions.some((c) => c.replication);
  const title = replication ? 'Evaluation against reference images' : 'Evaluation without reference images';
  return (
    <section className="mv-view" aria-label={title} data-testid="science-proxy-evaluation">
      <h3 className="mv-view-title">{title}</h3>
      <p className="hint">{reason}</p>
      <div style={{ overflowX: 'auto' }}>
        <table>
          <thead>
            <tr>
              <th scope="col">condition</th>
              <th scope="col">units pruned</th>
              {replication ? (
                <th
                  scope="col"
                  title="Share of memorized generations that copy their prompt's reference image, with its 95% Wilson interval"
                >
                  replication (95% interval)
                </th>
              ) : null}
              <th scope="col" title="Wen et al.'s score under the mask, as a share of the unpruned model's">
                memorized noise gap
              </th>
              <th scope="col" title="RMSE against the unpruned model's image, same prompt and seed">
                memorized images changed
              </th>
              <th scope="col" title="RMSE against the unpruned model's image, same prompt and seed (lower is better)">
                neutral images changed
              </th>
            </tr>
          </thead>
          <tbody>
            {conditions.map((c) => (
              <tr key={c.id}>
                <th scope="row">{c.id}</th>
                <td>{Math.round(c.pruned)}</td>
                {replication ? (
                  <td data-testid="proxy-replication">
                    {c.replication
                      ? `${pct(c.replication.rate)} [${pct(c.replication.lo)}–${pct(c.replication.hi)}]`
                      : '–'}
                  </td>
                ) : null}
                <td>{Number.isFinite(c.memorizedNoiseGapRatio) ? pct(c.memorizedNoiseGapRatio) : '–'}</td>
                <td>{f3(c.memorizedChange)}</td>
                <td>{f3(c.neutralChange)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
