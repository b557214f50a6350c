// Prometheus text exposition (format 0.0.4) for counters, gauges and histograms. Small and
// allocation-light: metrics are updated on hot paths.

type Labels = Record<string, string>;

function labelKey(labels: Labels | undefined): string {
  if (!labels) return "";
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${String(labels[k]).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",")}}`;
}

abstract class Metric {
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  abstract render(): string;
}

export class Counter extends Metric {
  #values = new Map<string, number>();
  inc(labels?: Labels, by = 1): void {
    const k = labelKey(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  get(labels?: Labels): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    if (this.#values.size === 0) out += `${this.name} 0\n`;
    for (const [k, v] of this.#values) out += `${this.name}${k} ${v}\n`;
    return out;
  }
}

export class Gauge extends Metric {
  #values = new Map<string, number>();
  #collect: (() => Array<[Labels | undefined, number]>) | undefined;
  set(value: number, labels?: Labels): void {
    this.#values.set(labelKey(labels), value);
  }
  /** Computes the values when scraped instead of on every change. */
  collect(fn: () => Array<[Labels | undefined, number]>): void {
    this.#collect = fn;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
    if (this.#collect) {
      this.#values.clear();
      for (const [labels, v] of this.#collect()) this.#values.set(labelKey(labels), v);
    }
    if (this.#values.size === 0) out += `${this.name} 0\n`;
    for (const [k, v] of this.#values) out += `${this.name}${k} ${v}\n`;
    return out;
  }
}

export const defaultLatencyBucketsMs = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

export class Histogram extends Metric {
  readonly bucketsMs: readonly number[];
  #series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, bucketsMs: readonly number[] = defaultLatencyBucketsMs) {
    super(name, help);
    this.bucketsMs = bucketsMs;
  }
  observe(valueMs: number, labels?: Labels): void {
    const k = labelKey(labels);
    let s = this.#series.get(k);
    if (!s) {
      s = { counts: new Array(this.bucketsMs.length).fill(0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    for (let i = 0; i < this.bucketsMs.length; i++) if (valueMs <= this.bucketsMs[i]) s.counts[i]++;
    s.sum += valueMs;
    s.count++;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const [k, s] of this.#series) {
      const inner = k ? `${k.slice(1, -1)},` : "";
      for (let i = 0; i < this.bucketsMs.length; i++) {
        out += `${this.name}_bucket{${inner}le="${this.bucketsMs[i]}"} ${s.counts[i]}\n`;
      }
      out += `${this.name}_bucket{${inner}le="+Inf"} ${s.count}\n`;
      out += `${this.name}_sum${k} ${s.sum}\n${this.name}_count${k} ${s.count}\n`;
    }
    return out;
  }
}

export class Registry {
  #metrics: Metric[] = [];
  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.#add(new Gauge(name, help));
  }
  histogram(name: string, help: string, bucketsMs?: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, bucketsMs));
  }
  render(): string {
    return this.#metrics.map((m) => m.render()).join("");
  }
  #add<M extends Metric>(m: M): M {
    if (this.#metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.#metrics.push(m);
    return m;
  }
}
