/**
 * "Load a model": a Stable-Diffusion-family folder in the diffusers ONNX layout, picked from disk
 * (directory picker or a dropped folder) or read from a base URL. Shows every file's progress, then
 * what the lab found in the model, or what is wrong with it in plain words with the technical
 * detail behind a disclosure. Knows nothing of the store: the caller passes the status in.
 */
import { type DragEvent, useEffect, useId, useRef, useState } from 'react';
import { filesFromDrop } from './drop';

export interface LoadFileProgress {
  path: string;
  loaded: number;
  /** 0 when the size is not known yet */
  total: number;
  fromCache: boolean;
}

/** What the lab found in a loaded model, for the user to check at a glance. */
export interface LoadReport {
  label: string;
  crossAttention: { name: string; heads: number; resolution: number; valueWidth?: number }[];
  selfAttentionBlocks: number;
  latent: { channels: number; height: number; width: number };
  image: { width: number; height: number };
  scheduler: string;
  prediction: string;
  dtype: string;
  /** the graph form the instrumenter recognised (e.g. "plain export", "onnxruntime-fused") */
  graphForm: string;
  bytes: number;
}

export type LoadStatus =
  | { phase: 'idle' }
  | { phase: 'loading'; source: string; step: string; files: LoadFileProgress[] }
  | { phase: 'ready'; report: LoadReport }
  | { phase: 'failed'; message: string; detail: string; canRetry: boolean };

export interface LoadModelDialogProps {
  open: boolean;
  status: LoadStatus;
  onClose(): void;
  onPickFiles(files: File[]): void;
  onLoadUrl(url: string): void;
  onRetry?(): void;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;

function FileRow({ file }: { file: LoadFileProgress }) {
  const done = file.total > 0 && file.loaded >= file.total;
  return (
    <li className="load-file" data-testid="load-file">
      <code>{file.path}</code>
      <progress max={file.total || 1} value={file.total ? file.loaded : undefined} aria-label={`${file.path} loaded`} />
      <span className="hint">
        {file.fromCache
          ? 'from the browser cache'
          : done
            ? mb(file.total)
            : `${mb(file.loaded)} of ${file.total ? mb(file.total) : '?'}`}
      </span>
    </li>
  );
}

export function ReportTable({ report }: { report: LoadReport }) {
  const heads = report.crossAttention.map((b) => b.heads);
  const sameHeads = heads.every((h) => h === heads[0]);
  return (
    <div data-testid="load-report">
      <p>
        Loaded <strong>{report.label}</strong>: {report.crossAttention.length} cross-attention blocks (
        {sameHeads ? `${heads[0]} heads each` : `${Math.min(...heads)} to ${Math.max(...heads)} heads`}),{' '}
        {report.selfAttentionBlocks} self-attention blocks; latent {report.latent.channels} x {report.latent.height} x{' '}
        {report.latent.width}, image {report.image.width} x {report.image.height}; {report.scheduler} (
        {report.prediction}); {report.dtype}; {report.graphForm}; {mb(report.bytes)}.
      </p>
      <table className="load-blocks">
        <thead>
          <tr>
            <th scope="col">cross-attention block</th>
            <th scope="col">heads</th>
            <th scope="col">map size</th>
            <th scope="col">value neurons</th>
          </tr>
        </thead>
        <tbody>
          {report.crossAttention.map((b) => (
            <tr key={b.name}>
              <td>
                <code>{b.name}</code>
              </td>
              <td>{b.heads}</td>
              <td>
                {b.resolution} x {b.resolution}
              </td>
              <td>{b.valueWidth ?? '-'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function LoadModelDialog({ open, status, onClose, onPickFiles, onLoadUrl, onRetry }: LoadModelDialogProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [url, setUrl] = useState('');
  const [dragging, setDragging] = useState(false);
  const urlId = useId();
  const folderId = useId();

  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);

  const busy = status.phase === 'loading';
  const onDrop = async (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    if (busy) return;
    const files = await filesFromDrop(event.dataTransfer);
    if (files.length) onPickFiles(files);
  };

  return (
    <dialog
      ref={dialog}
      className="load-dialog"
      aria-labelledby={`${folderId}-title`}
      onClose={onClose}
      data-testid="load-dialog"
    >
      <h2 id={`${folderId}-title`}>Load a Stable Diffusion model</h2>
      <p className="hint">
        A folder in the diffusers ONNX layout: <code>model_index.json</code>, <code>text_encoder/</code>,{' '}
        <code>unet/</code> (with its weight file), <code>vae_decoder/</code>, <code>tokenizer/</code> and{' '}
        <code>scheduler/</code>. Nothing leaves your computer: the model runs in this tab.
      </p>
      {/* biome-ignore lint/a11y/noStaticElementInteractions: dropping is pointer-only by nature; the folder input inside is the keyboard path */}
      <div
        className={`drop-zone${dragging ? ' dragging' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        data-testid="load-drop"
      >
        <label htmlFor={folderId}>From a folder on this computer</label>
        <input
          id={folderId}
          type="file"
          // The directory picker: every file of the chosen folder, each named "<folder>/<path>".
          {...{ webkitdirectory: '', directory: '' }}
          multiple
          disabled={busy}
          data-testid="load-folder-input"
          onChange={(e) => {
            const files = Array.from(e.target.files ?? []);
            e.target.value = '';
            if (files.length) onPickFiles(files);
          }}
        />
        <span className="hint">or drop the folder here</span>
      </div>
      <form
        className="load-url"
        onSubmit={(e) => {
          e.preventDefault();
          if (url.trim()) onLoadUrl(url.trim());
        }}
      >
        <label htmlFor={urlId}>From an address that serves the folder</label>
        <input
          id={urlId}
          type="url"
          placeholder="https://example.org/models/sd-turbo-onnx/"
          value={url}
          onChange={(e) => setUrl(e.target.value)}
          disabled={busy}
          data-testid="load-url-input"
        />
        <button type="submit" disabled={busy || !url.trim()} data-testid="load-url-button">
          Load
        </button>
      </form>

      {status.phase === 'loading' ? (
        <section aria-live="polite" data-testid="load-progress">
          <p>
            {status.step} <span className="hint">({status.source})</span>
          </p>
          <ul className="load-files">
            {status.files.map((f) => (
              <FileRow key={f.path} file={f} />
            ))}
          </ul>
        </section>
      ) : null}
      {status.phase === 'ready' ? <ReportTable report={status.report} /> : null}
      {status.phase === 'failed' ? (
        <div role="alert" className="notice error" data-testid="load-error">
          <p className="message">{status.message}</p>
          <details>
            <summary>Technical details</summary>
            <pre>{status.detail}</pre>
          </details>
          {status.canRetry && onRetry ? (
            <button type="button" onClick={onRetry}>
              Try again
            </button>
          ) : null}
        </div>
      ) : null}
      <p className="dialog-buttons">
        <button type="button" className="secondary" onClick={onClose} data-testid="load-close">
          {status.phase === 'ready' ? 'Done' : 'Close'}
        </button>
      </p>
    </dialog>
  );
}
