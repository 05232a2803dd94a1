// `lora-studio runs list|show|resume|delete --project DIR [--json]`: the training runs saved in
// a project folder.
import path from 'node:path';
import { defaultProjectDir, isProject } from '../../engine/store/project.ts';
import { resumeTraining } from '../../engine/services/train.ts';
import { deleteRun, listCheckpoints, listRuns, readMetrics, readRun, type RunInfo } from '../../engine/store/runs.ts';
import type { TrainEvent } from '../../engine/train/types.ts';
import { UsageError, int, parse, runCommand } from '../args.ts';

const HELP = `Usage: lora-studio runs <command> [RUN] [--project DIR] [--json]

The training runs of a project (folders under <project>/runs/).

Commands:
  list                  the runs, newest first: id, status, step, loss, method, name
  show RUN              one run: status, config, progress, checkpoints, latest metrics
  resume RUN            continue a cancelled, failed or interrupted run from its last checkpoint,
                        with the options it started with (Ctrl-C stops after the current step)
  delete RUN            delete a run folder (refused while the run is training)

Options:
  --project DIR         the project folder (default: $LORA_STUDIO_PROJECT, else
                        <app data>/lora-studio/projects/default)
  --checkpoint-every N  (resume) checkpoint interval; default: the run's own
  --keep-checkpoints N  (resume) checkpoints kept; default: the run's own
  --json                machine-readable output

A run shows as "interrupted" when run.json says running but its process is gone (killed, crashed,
machine restarted); resume continues it.`;

export async function runsCommand(argv: string[]): Promise<number> {
  return runCommand('runs', HELP, async () => {
    const { values: v, positionals } = parse(argv, {
      project: { type: 'string' }, 'checkpoint-every': { type: 'string' }, 'keep-checkpoints': { type: 'string' },
    }, true);
    if (v.help) { console.log(HELP); return 0; }
    const [sub, id, ...extra] = positionals;
    if (!sub) throw new UsageError('give a command: list, show, resume or delete');
    if (!['list', 'show', 'resume', 'delete'].includes(sub)) throw new UsageError(`unknown command "${sub}" (list, show, resume or delete)`);
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const project = v.project ? path.resolve(v.project) : defaultProjectDir();
    const json = Boolean(v.json);
    const needId = (): string => {
      if (!id) throw new UsageError(`runs ${sub} needs a run id (see \`lora-studio runs list\`)`);
      return id;
    };
    if (!isProject(project)) {
      // The default project may not exist yet: then there simply are no runs.
      if (sub === 'list' && !v.project) {
        if (json) console.log(JSON.stringify({ project, runs: [], broken: [] }, null, 2));
        else console.log(`no runs in ${project} (no project there yet)`);
        return 0;
      }
      throw new Error(`${project}: not a LoRA Studio project (no project.json)`);
    }
    switch (sub) {
      case 'list':
        if (id) throw new UsageError(`unexpected argument "${id}"`);
        return list(project, json);
      case 'show':
        return show(project, needId(), json);
      case 'resume':
        return resume(project, needId(), json, v['checkpoint-every'], v['keep-checkpoints']);
      case 'delete': {
        const runId = needId();
        deleteRun(project, runId);
        if (json) console.log(JSON.stringify({ deleted: runId }));
        else console.log(`deleted run ${runId}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${sub}" (list, show, resume or delete)`);
    }
  });
}

const fmtLoss = (x: number | null) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(4));

function summaryJson(r: RunInfo) {
  return {
    id: r.id,
    name: r.name,
    status: r.effectiveStatus,
    method: r.config.method,
    model: r.config.model,
    step: r.step,
    total_steps: r.totalSteps,
    last_loss: r.lastLoss,
    last_checkpoint: r.lastCheckpoint,
    created_at: r.createdAt,
    ended_at: r.endedAt,
    output: r.output ? path.join(r.dir, r.output) : null,
    dir: r.dir,
    error: r.error,
  };
}

function list(project: string, json: boolean): number {
  const { runs, broken } = listRuns(project);
  if (json) {
    console.log(JSON.stringify({ project, runs: runs.map(summaryJson), broken }, null, 2));
    return 0;
  }
  for (const b of broken) console.error(`warning: ${b.error}`);
  if (runs.length === 0) {
    console.log(`no runs in ${project}`);
    return 0;
  }
  const rows = runs.map((r) => [r.id, r.effectiveStatus, `${r.step}/${r.totalSteps ?? '?'}`, fmtLoss(r.lastLoss), r.config.method, r.name]);
  const head = ['ID', 'STATUS', 'STEP', 'LOSS', 'METHOD', 'NAME'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [head, ...rows]) console.log(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  return 0;
}

function show(project: string, id: string, json: boolean): number {
  const r = readRun(project, id);
  const checkpoints = listCheckpoints(r.dir).map((c) => c.step);
  const { steps, evals } = readMetrics(r.dir);
  const last = steps[steps.length - 1] ?? null;
  if (json) {
    console.log(JSON.stringify({
      ...summaryJson(r),
      stored_status: r.status,
      config: r.config,
      process: r.process,
      segments: r.segments,
      checkpoints,
      metrics: { points: steps.length, last, evals },
      result: r.result,
      export_to: r.exportTo,
    }, null, 2));
    return 0;
  }
  const c = r.config;
  const lines = [
    `run         ${r.id}${r.name ? `  (${r.name})` : ''}`,
    `status      ${r.effectiveStatus}${r.effectiveStatus === 'interrupted' ? ` (process ${r.process?.pid} on ${r.process?.host} is gone; \`lora-studio runs resume ${r.id}\` continues it)` : ''}`,
    `folder      ${r.dir}`,
    `model       ${c.model}`,
    `data        ${c.data.kind === 'file' ? c.data.path : `${c.data.count} documents (${c.data.tokens} tokens) in ${c.data.file}`}`,
    `method      ${c.method}${c.method === 'lora' ? `  r=${c.lora.r} alpha=${c.lora.alpha} dropout=${c.lora.dropout} targets=${JSON.stringify(c.lora.targets)}` : ''}`,
    `training    lr ${c.lr}  ${c.schedule}  batch ${c.batchSize}x${c.gradAccum}  max length ${c.maxLength}  seed ${c.seed}`,
    `progress    step ${r.step}/${r.totalSteps ?? '?'}  loss ${fmtLoss(r.lastLoss)}  ${r.elapsedS.toFixed(1)} s`,
    `checkpoints ${checkpoints.length ? checkpoints.map((s) => `step-${s}`).join(', ') : 'none'}`,
    `created     ${r.createdAt}${r.endedAt ? `   ended ${r.endedAt}` : ''}${r.segments.length > 1 ? `   (${r.segments.length} segments: resumed ${r.segments.length - 1}x)` : ''}`,
  ];
  if (last) lines.push(`last point  step ${last.step}  loss ${fmtLoss(last.loss)}  lr ${last.lr.toExponential(2)}  grad_norm ${Number.isFinite(last.gradNorm) ? last.gradNorm.toFixed(3) : '-'}`);
  if (evals.length) lines.push(`eval        ${evals.map((e) => `step ${e.step}: loss ${fmtLoss(e.evalLoss)}`).join(', ')}`);
  if (r.output) lines.push(`output      ${path.join(r.dir, r.output)}`);
  if (r.error) lines.push(`error       ${r.error}`);
  console.log(lines.join('\n'));
  return 0;
}

async function resume(project: string, id: string, json: boolean, every?: string, keep?: string): Promise<number> {
  const ac = new AbortController();
  const stop = () => { console.error('stopping after this step (Ctrl-C again to kill)'); ac.abort(); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const onEvent = (e: TrainEvent) => {
    let msg: string | undefined;
    if (e.type === 'start') msg = `resuming run ${id}: ${e.totalSteps} steps in all`;
    else if (e.type === 'step') msg = `step ${e.step}/${e.totalSteps}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  grad_norm ${e.gradNorm.toFixed(3)}  ${Math.round(e.tokensPerS)} tok/s`;
    else if (e.type === 'eval') msg = `eval at step ${e.step}: loss ${e.evalLoss.toFixed(4)}  perplexity ${e.perplexity.toFixed(2)}`;
    else if (e.type === 'log') msg = e.message;
    if (msg === undefined) return;
    if (json || e.type === 'log') console.error(msg);
    else console.log(msg);
  };
  try {
    const { runId, runDir, result: r } = await resumeTraining(project, id, {
      onEvent, signal: ac.signal,
      checkpointEvery: every === undefined ? undefined : int(every, 'checkpoint-every', 50),
      keepCheckpoints: keep === undefined ? undefined : int(keep, 'keep-checkpoints', 3),
    });
    if (json) {
      console.log(JSON.stringify({ id: runId, dir: runDir, steps: r.steps, final_loss: r.finalLoss, stopped: r.stopped, out: r.out ?? null, wall_s: r.wallS }));
    } else {
      console.log(`${r.stopped === 'cancelled' ? 'stopped' : 'done'}: ${r.steps} steps, final loss ${r.finalLoss.toFixed(4)} → ${r.out ?? runDir}`);
    }
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
