/** Progress of a long operation, as every pd package reports it. */
export interface ProgressEvent {
  id: string;
  label?: string;
  done: number;
  total?: number;
  phase?: string;
}
