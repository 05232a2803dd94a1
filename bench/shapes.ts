// The benchmark shapes of the engine issue, shared by our runner and the PyTorch script.
export interface BenchShape {
  name: string;
  vocab: number;
  ctx: number;
  d: number;
  heads: number;
  layers: number;
  batch: number;
}

export const SHAPES: Record<string, BenchShape> = {
  small: { name: 'small (V 2048, ctx 128, d 256, 4 heads, 4 layers, batch 8)', vocab: 2048, ctx: 128, d: 256, heads: 4, layers: 4, batch: 8 },
  medium: { name: 'medium (V 8192, ctx 128, d 512, 8 heads, 6 layers, batch 4)', vocab: 8192, ctx: 128, d: 512, heads: 8, layers: 6, batch: 4 },
  gpt2: { name: 'GPT-2 small (124M, ctx 256, batch 4)', vocab: 50257, ctx: 256, d: 768, heads: 12, layers: 12, batch: 4 },
};
