// The grid service: a grid search over LoRA's r, alpha, dropout (and the learning rate), scored by
// validation perplexity, each trial a run of the project (engine/experiments/grid.ts); and the
// project's saved grid searches as the contract describes them.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type GridReportData, GridReportSchema, parse } from '../api.ts';
import { EXPERIMENTS_DIR } from '../experiments/compare.ts';
import { type GridOptions, type GridReport, gridSearch } from '../experiments/grid.ts';
import { requireDir, requirePath } from './files.ts';

/** Runs (or resumes) the search; trials train in this process unless `o.runner` isolates them. */
export function grid(o: GridOptions): Promise<GridReport> {
  return gridSearch({ ...o, model: requireDir(o.model, 'model folder'), data: requirePath(o.data, 'dataset') });
}

/** The saved grid searches of a project (experiments/grid-*.json), newest first, as summaries. */
export function listGrids(project: string): GridReportData[] {
  const dir = join(resolve(project), EXPERIMENTS_DIR);
  if (!existsSync(dir)) return [];
  const out: GridReportData[] = [];
  for (const f of readdirSync(dir).filter((x) => /^grid-.*\.json$/.test(x))) {
    try {
      const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown> & { trials?: Record<string, unknown>[]; best?: { runId?: string } | null };
      const trials = (r.trials ?? []).map((t) => ({
        index: t.index, params: t.params, runId: t.runId, status: t.status, perplexity: t.perplexity ?? null, evalLoss: t.evalLoss ?? null,
        steps: t.steps ?? 0, wallS: t.wallS ?? 0, ...(typeof t.error === 'string' ? { error: t.error } : {}),
      }));
      out.push(parse(GridReportSchema, {
        id: r.id, createdAt: r.createdAt, updatedAt: r.updatedAt ?? r.createdAt, model: r.model, data: r.data, trials,
        bestRunId: r.best?.runId ?? null, bestAdapter: r.bestAdapter ?? null, file: join(dir, f),
      }, `grid ${f}`));
    } catch {
      // an unreadable or foreign file: left out
    }
  }
  return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
}
