// What the renderer's jsdom tests share: no canvas (the charts fall back to their text summaries),
// a clean localStorage and start page per test, the App rendered over a FakeStudio, and the nav.
import { render, screen, waitFor, within } from '@testing-library/svelte';
import { afterEach, beforeEach, expect } from 'vitest';
import App from '../../renderer/src/App.svelte';
import { Studio } from '../../renderer/src/lib/state.svelte.ts';
import { FakeStudio, type Handlers } from './fake-studio.ts';

HTMLCanvasElement.prototype.getContext = (() => null) as unknown as HTMLCanvasElement['getContext'];

/** Registers the per-test reset: localStorage cleared, the app starting at `#/start`. */
export function freshAppPerTest(start = 'projects'): void {
  beforeEach(() => {
    localStorage.clear();
    history.replaceState(null, '', `#/${start}`);
  });
  afterEach(() => localStorage.clear());
}

/** The App over a FakeStudio answering from `handlers`, once it has the app's info. */
export async function renderApp(handlers: Handlers = {}) {
  const api = new FakeStudio(handlers);
  const studio = new Studio(api);
  const view = render(App, { props: { studio, connection: api.connection() } });
  await waitFor(() => expect(studio.info).not.toBeNull());
  return { api, studio, view };
}

/** A section's button in the app's nav. */
export const nav = (name: string) => within(screen.getByRole('navigation', { name: 'Studio sections' })).getByRole('button', { name });
