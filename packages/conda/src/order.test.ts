import { describe, expect, it } from 'vitest';
import { dependencyOrder } from './order.js';

const p = (name: string, ...depends: string[]) => ({ name, depends });

describe('dependencyOrder', () => {
  it('puts dependencies first and breaks ties by name', () => {
    const order = dependencyOrder([
      p('app', 'lib >=1', 'python 3.12.*'),
      p('python', 'zlib'),
      p('zlib'),
      p('lib', 'zlib'),
    ]);
    expect(order.map((x) => x.name)).toEqual(['zlib', 'lib', 'python', 'app']);
  });

  it('is the same whatever the input order', () => {
    const items = [p('c'), p('b', 'c'), p('a', 'b'), p('d'), p('e', 'd', 'a')];
    const want = dependencyOrder(items).map((x) => x.name);
    expect(dependencyOrder([...items].reverse()).map((x) => x.name)).toEqual(want);
    expect(want).toEqual(['c', 'd', 'b', 'a', 'e']);
  });

  it('breaks cycles deterministically and ignores unknown dependencies', () => {
    const order = dependencyOrder([p('pip', 'python'), p('python', 'pip', '__glibc >=2.17'), p('zz')]);
    expect(order.map((x) => x.name)).toEqual(['zz', 'pip', 'python']);
  });
});
