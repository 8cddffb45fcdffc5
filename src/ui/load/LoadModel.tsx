/**
 * The "Load a model" button and dialog, wired to the store: a picked or dropped folder, or a base
 * URL, becomes a folder model; the dialog follows the load (progress, report, or what went wrong).
 */
import { useState } from 'react';
import { normaliseBaseUrl } from '../../gpu/model-folder';
import { useLab, useLabActions } from '../StoreContext';
import { type LoadReport, type LoadStatus, LoadModelDialog } from './LoadModelDialog';

function useLoadStatus(): LoadStatus {
  const model = useLab((s) => s.model);
  const status = useLab((s) => s.status);
  const progress = useLab((s) => s.progress);
  const manifest = useLab((s) => s.manifest);
  const loadError = useLab((s) => s.loadError);
  if (!model?.source) return { phase: 'idle' };
  if (status === 'failed' && loadError) {
    // Retrying helps only when the network failed (the worker says so); a wrong folder stays wrong.
    return {
      phase: 'failed',
      message: loadError.message,
      detail: loadError.detail ?? loadError.message,
      canRetry: loadError.retry,
    };
  }
  if (status === 'loading' || status === 'starting') {
    const files =
      progress?.phase === 'download'
        ? [{ path: progress.label, loaded: progress.loaded, total: progress.total, fromCache: progress.fromCache }]
        : [];
    return { phase: 'loading', source: model.label, step: progress?.label ?? 'Starting…', files };
  }
  if (manifest?.latent) {
    const latent = manifest.latent;
    const report: LoadReport = {
      label: model.label,
      crossAttention: manifest.unet.layers.map((l, i) => ({
        name: l.name,
        heads: l.heads,
        resolution: latent.crossAttention[i]?.blockResolution ?? l.resolution,
        valueWidth: latent.crossAttention[i]?.valueWidth,
      })),
      selfAttentionBlocks: latent.selfAttentionBlocks,
      latent: latent.shape,
      image: { width: manifest.image.width, height: manifest.image.height },
      scheduler: latent.scheduler.className,
      prediction: latent.scheduler.prediction,
      dtype: latent.dtype,
      graphForm: latent.graphForm,
      bytes: latent.bytes,
    };
    return { phase: 'ready', report };
  }
  return { phase: 'idle' };
}

export function LoadModel() {
  const [open, setOpen] = useState(false);
  const { loadFolder, loadModel, notify } = useLabActions();
  const status = useLoadStatus();
  return (
    <>
      <button type="button" className="secondary" onClick={() => setOpen(true)} data-testid="load-model">
        Load a model…
      </button>
      <LoadModelDialog
        open={open}
        status={status}
        onClose={() => setOpen(false)}
        onPickFiles={(files) =>
          loadFolder({ kind: 'files', files }, files[0].webkitRelativePath?.split('/')[0] || 'the chosen folder')
        }
        onLoadUrl={(url) => {
          try {
            const baseUrl = normaliseBaseUrl(url);
            loadFolder({ kind: 'url', baseUrl }, baseUrl);
          } catch {
            notify('error', 'That is not a web address the lab can read: it must start with https:// or http://.');
          }
        }}
        onRetry={loadModel}
      />
    </>
  );
}
