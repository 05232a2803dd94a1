export interface Series {
  label: string;
  points: { x: number; y: number }[];
}
