/** Hands the one lab store to the component tree; components select the slices they draw. */
import { createContext, useContext, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { LabState, LabStore } from '../state/store';

const StoreContext = createContext<LabStore | null>(null);

export function StoreProvider({ store, children }: { store: LabStore; children: ReactNode }) {
  return <StoreContext.Provider value={store}>{children}</StoreContext.Provider>;
}

export function useLab<T>(selector: (state: LabState) => T): T {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useLab needs a StoreProvider above it');
  return useStore(store, selector);
}

/** The store's actions; they never change identity, so reading them causes no re-render. */
export function useLabActions(): LabState {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useLabActions needs a StoreProvider above it');
  return store.getState();
}

/** The store itself, for reading the latest state inside an event handler without subscribing. */
export function useLabStore(): LabStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useLabStore needs a StoreProvider above it');
  return store;
}
