import { getContext, setContext } from 'svelte';
import type { Studio } from './state.svelte.ts';

const KEY = Symbol('studio');

export const provideStudio = (s: Studio): Studio => setContext(KEY, s);
export const useStudio = (): Studio => {
  const s = getContext<Studio | undefined>(KEY);
  if (!s) throw new Error('useStudio() outside the studio app');
  return s;
};
