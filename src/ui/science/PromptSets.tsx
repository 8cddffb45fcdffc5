/**
 * The prompt sets of the science panel: the model's own sets and the imported ones, each ticked in
 * or out of the studies, and the import control (a file input that also takes dropped files, the
 * label the sets get, the format: detected from the file unless chosen). Each import shows what the
 * parser read, with skipped lines and their reasons behind a disclosure. Imported sets stay in this
 * browser (IndexedDB), never in the link.
 */
import { type DragEvent, useId, useMemo, useState } from 'react';
import {
  PROMPT_FORMATS,
  PROMPT_LABELS,
  type PromptFormat,
  type PromptLabel,
  promptSetList,
  promptSetsOfManifest,
} from '../../core/prompts';
import { isReferenceImageName } from '../../core/prompts/references';
import { type PromptImport, referenceSelectionOf } from '../../state/slices/prompt-sets';
import { useLab, useLabActions } from '../StoreContext';

const LABEL_WORDS: Record<PromptLabel, string> = {
  memorized: 'memorized',
  'non-memorized': 'non-memorized',
  unlabelled: 'unlabelled',
};

/** The imported sets, the choice, and the latest import's reports, wired to the store. */
export function PromptSets() {
  const manifest = useLab((s) => s.manifest);
  const state = useLab((s) => s.promptSets);
  const actions = useLabActions();
  const [label, setLabel] = useState<PromptLabel>('memorized');
  const [format, setFormat] = useState<PromptFormat | 'auto'>('auto');
  const [dragging, setDragging] = useState(false);
  const ids = { label: useId(), format: useId(), file: useId(), title: useId() };
  const list = useMemo(
    () => promptSetList(manifest ? promptSetsOfManifest(manifest) : [], state.imported),
    [manifest, state.imported],
  );

  const importFiles = (files: File[]) => {
    if (files.length === 0 || state.importing) return;
    void actions.importPromptFiles(files, { label, ...(format === 'auto' ? {} : { format }) });
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    importFiles(Array.from(e.dataTransfer.files));
  };

  return (
    <div className="prompt-sets" data-testid="prompt-sets">
      <p className="hint">
        Tick the sets the detection study, head ablation and NeMo use: memorized sets are the copies, non-memorized sets
        the ordinary prompts, unlabelled ones are scored but kept out of the ROC. Imported sets stay in this browser
        only: they are not uploaded and not part of the link.
      </p>
      <table className="prompt-set-table" aria-labelledby={ids.title}>
        <caption id={ids.title} className="visually-hidden">
          Prompt sets
        </caption>
        <thead>
          <tr>
            <th scope="col">Use</th>
            <th scope="col">Set</th>
            <th scope="col">Label</th>
            <th scope="col">Prompts</th>
            <th scope="col">
              <span className="visually-hidden">Remove</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {list.map((l) => (
            <tr key={l.id} data-testid="prompt-set-row" data-origin={l.origin}>
              <td>
                <input
                  type="checkbox"
                  checked={state.chosen.includes(l.id)}
                  onChange={(e) => actions.choosePromptSet(l.id, e.currentTarget.checked)}
                  aria-label={`Use “${l.set.name}” in studies`}
                  data-testid="prompt-set-use"
                />
              </td>
              <th scope="row">
                {l.set.name}
                {l.source ? (
                  <span className="hint">
                    {' '}
                    ({l.source.file}, {PROMPT_FORMATS[l.source.format].title})
                  </span>
                ) : (
                  <span className="hint"> (the model's own)</span>
                )}
              </th>
              <td>
                {l.origin === 'imported' ? (
                  <select
                    value={l.set.label}
                    onChange={(e) => actions.setPromptSetLabel(l.id, e.currentTarget.value as PromptLabel)}
                    aria-label={`Label of “${l.set.name}”`}
                  >
                    {PROMPT_LABELS.map((x) => (
                      <option key={x} value={x}>
                        {LABEL_WORDS[x]}
                      </option>
                    ))}
                  </select>
                ) : (
                  LABEL_WORDS[l.set.label]
                )}
              </td>
              <td className="num" data-testid="prompt-set-count">
                {l.set.prompts.length.toLocaleString('en')}
              </td>
              <td>
                {l.origin === 'imported' ? (
                  <button
                    type="button"
                    className="secondary small"
                    onClick={() => actions.removePromptSet(l.id)}
                    aria-label={`Remove “${l.set.name}”`}
                    data-testid="prompt-set-remove"
                  >
                    Remove
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.length === 0 ? <p className="hint">This model brings no prompt sets: import some.</p> : null}

      {/* biome-ignore lint/a11y/noStaticElementInteractions: dropping is pointer-only by nature; the file input inside is the keyboard path */}
      <div
        className={`prompt-import${dragging ? ' dragging' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        data-testid="prompt-drop"
      >
        <label htmlFor={ids.label}>
          Import as{' '}
          <select
            id={ids.label}
            value={label}
            onChange={(e) => setLabel(e.currentTarget.value as PromptLabel)}
            data-testid="prompt-import-label"
          >
            {PROMPT_LABELS.map((x) => (
              <option key={x} value={x}>
                {LABEL_WORDS[x]}
              </option>
            ))}
          </select>
        </label>
        <label htmlFor={ids.format}>
          Format{' '}
          <select
            id={ids.format}
            value={format}
            onChange={(e) => setFormat(e.currentTarget.value as PromptFormat | 'auto')}
            data-testid="prompt-import-format"
          >
            <option value="auto">detect from the file</option>
            {(Object.keys(PROMPT_FORMATS) as PromptFormat[]).map((f) => (
              <option key={f} value={f}>
                {PROMPT_FORMATS[f].title}
              </option>
            ))}
          </select>
        </label>
        <label htmlFor={ids.file}>Prompt files (.jsonl, .csv, .txt)</label>
        <input
          id={ids.file}
          type="file"
          multiple
          accept=".jsonl,.ndjson,.json,.csv,.txt,text/plain,text/csv,application/json"
          disabled={state.importing}
          onChange={(e) => {
            const files = Array.from(e.currentTarget.files ?? []);
            e.currentTarget.value = '';
            importFiles(files);
          }}
          data-testid="prompt-file"
        />
        <span className="hint">or drop them here</span>
      </div>
      {state.importing ? (
        <p className="hint" role="status">
          Reading…
        </p>
      ) : null}
      {state.storageProblem ? (
        <p className="hint" role="status">
          {state.storageProblem}
        </p>
      ) : null}
      {state.imports.map((i, k) => (
        <ImportReport key={`${i.file}-${k}`} result={i} />
      ))}
      <ReferenceImages />
    </div>
  );
}

/**
 * Reference images for the evaluation's replication: PNG/JPEG files or a folder of them, matched
 * to the ticked memorized sets; held in memory for this page only.
 */
function ReferenceImages() {
  const manifest = useLab((s) => s.manifest);
  const promptSets = useLab((s) => s.promptSets);
  const actions = useLabActions();
  const ids = { files: useId(), folder: useId() };
  const selection = useMemo(() => referenceSelectionOf({ manifest, promptSets }), [manifest, promptSets]);
  const held = promptSets.references;
  const ignored = held.filter((f) => !isReferenceImageName(f.name)).map((f) => f.name);
  const pick = (input: HTMLInputElement) => {
    const files = Array.from(input.files ?? []);
    input.value = '';
    if (files.length > 0) void actions.setReferenceImages(files);
  };
  return (
    <fieldset className="reference-images" data-testid="reference-images">
      <legend>Reference images</legend>
      <p className="hint">
        The training images memorized prompts may copy, so the evaluation can measure replication. Name each PNG or JPEG
        by the prompt's index (123.png), by the file name at the end of its URL, or by its position in a list (0.png).
        They are held in this page's memory only: not stored, not uploaded, gone after a reload.
      </p>
      <label htmlFor={ids.files}>Image files</label>{' '}
      <input
        id={ids.files}
        type="file"
        multiple
        accept=".png,.jpg,.jpeg,image/png,image/jpeg"
        disabled={promptSets.readingReferences}
        onChange={(e) => pick(e.currentTarget)}
        data-testid="reference-files"
      />{' '}
      <label htmlFor={ids.folder}>or a folder</label>{' '}
      <input
        id={ids.folder}
        type="file"
        multiple
        // a folder pick: every file inside it (React passes the non-standard attribute through as written)
        {...{ webkitdirectory: '' }}
        disabled={promptSets.readingReferences}
        onChange={(e) => pick(e.currentTarget)}
        data-testid="reference-folder"
      />
      {held.length > 0 ? (
        <button
          type="button"
          className="secondary small"
          onClick={() => actions.clearReferenceImages()}
          data-testid="reference-clear"
        >
          Forget them
        </button>
      ) : null}
      {promptSets.readingReferences ? (
        <p className="hint" role="status">
          Reading…
        </p>
      ) : held.length > 0 ? (
        <div role="status" data-testid="reference-report">
          <p>
            {held.length} file{held.length === 1 ? '' : 's'} held: {selection.summary}
          </p>
          {promptSets.unreadableReferences.length + ignored.length > 0 ? (
            <details data-testid="reference-unreadable">
              <summary>
                {promptSets.unreadableReferences.length + ignored.length} file
                {promptSets.unreadableReferences.length + ignored.length === 1 ? '' : 's'} not used: not a readable PNG
                or JPEG
              </summary>
              <ul>
                {promptSets.unreadableReferences.map((u) => (
                  <li key={u.file}>
                    {u.file}: {u.reason}
                  </li>
                ))}
                {ignored.map((name) => (
                  <li key={name}>{name}: not named .png, .jpg or .jpeg</li>
                ))}
              </ul>
            </details>
          ) : null}
          {selection.summaries.length > 0 ? (
            <details>
              <summary>Per set</summary>
              <ul>
                {selection.summaries.map((line) => (
                  <li key={line}>{line}</li>
                ))}
              </ul>
            </details>
          ) : null}
        </div>
      ) : null}
    </fieldset>
  );
}

/** One file's import: what was read or why nothing was, skipped lines and details behind disclosures. */
function ImportReport({ result }: { result: PromptImport }) {
  const r = result.report;
  return (
    <div
      className={`prompt-import-report ${result.ok ? 'ok' : 'failed'}`}
      role={result.ok ? 'status' : 'alert'}
      data-testid="prompt-import-report"
      data-ok={result.ok}
    >
      <p>{result.ok ? result.message : `${result.file}: ${result.message}`}</p>
      {r && r.skipped.length > 0 ? (
        <details data-testid="prompt-skipped">
          <summary>
            {r.skipped.length} skipped line{r.skipped.length === 1 ? '' : 's'}
          </summary>
          <ol className="prompt-skipped">
            {r.skipped.slice(0, 200).map((s) => (
              <li key={s.line}>
                line {s.line}: {s.reason}
                {s.detail ? ` (${s.detail})` : ''} — <code>{s.text}</code>
              </li>
            ))}
          </ol>
          {r.skipped.length > 200 ? <p className="hint">and {r.skipped.length - 200} more</p> : null}
        </details>
      ) : null}
      {r || result.detail ? (
        <details>
          <summary>Technical details</summary>
          {r ? (
            <ul>
              <li>
                read as {PROMPT_FORMATS[r.format].title}: {r.formatReason}
              </li>
              <li>
                {r.lines.toLocaleString('en')} lines, {r.blankLines.toLocaleString('en')} blank,{' '}
                {r.set.prompts.length.toLocaleString('en')} prompts, {r.duplicateCaptions} repeated
              </li>
              {r.notes.slice(0, 50).map((n) => (
                <li key={`${n.line}-${n.note}`}>
                  line {n.line}: {n.note}
                </li>
              ))}
            </ul>
          ) : null}
          {result.detail ? <p className="hint">{result.detail}</p> : null}
        </details>
      ) : null}
    </div>
  );
}
