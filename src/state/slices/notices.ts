/**
 * The notices slice: what the lab tells the user (errors, warnings, information), newest last and
 * few, each with at most one action that can help and, apart from the sentence, the technical detail.
 */
import type { SliceCreator } from './slice';

export type NoticeAction = 'retry-load' | 'retry-generate' | 'reload-page' | 'load-link-model';

export interface Notice {
  id: number;
  level: 'error' | 'warning' | 'info';
  /** one or two sentences a teacher understands */
  message: string;
  /** technical detail (file names, hashes, the runtime's words), shown behind a disclosure */
  detail?: string;
  action?: NoticeAction;
  /** the notice describes a wait that ends when the model is ready (it is removed then) */
  untilReady?: boolean;
}

export interface NoticesData {
  notices: Notice[];
  nextNoticeId: number;
}

export interface NoticesActions {
  notify(
    level: Notice['level'],
    message: string,
    action?: NoticeAction,
    options?: { untilReady?: boolean; detail?: string },
  ): void;
  dismiss(id: number): void;
  runAction(notice: Notice): void;
}

export type NoticesSlice = NoticesData & NoticesActions;

export const createNoticesSlice: SliceCreator<NoticesSlice> = (deps) => (set, get) => ({
  notices: [],
  nextNoticeId: 1,

  notify(level, message, action, options) {
    const id = get().nextNoticeId;
    const notice: Notice = {
      id,
      level,
      message,
      ...(options?.detail ? { detail: options.detail } : {}),
      ...(action ? { action } : {}),
      ...(options?.untilReady ? { untilReady: true } : {}),
    };
    // The same message twice in a row is noise; keep the list short and newest last.
    const others = get().notices.filter((n) => n.message !== message);
    set({ notices: [...others, notice].slice(-4), nextNoticeId: id + 1 });
  },

  dismiss: (id) => set({ notices: get().notices.filter((n) => n.id !== id) }),

  runAction(notice) {
    get().dismiss(notice.id);
    if (notice.action === 'retry-load') get().loadModel();
    else if (notice.action === 'retry-generate') get().generate();
    else if (notice.action === 'reload-page') deps.reloadPage();
    else if (notice.action === 'load-link-model') {
      const baseUrl = get().folderLink?.baseUrl;
      if (baseUrl) get().loadFolder({ kind: 'url', baseUrl }, baseUrl);
    }
  },
});
