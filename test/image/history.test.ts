/** History steps map to layers, skipping `empty_layer` steps wherever they are. */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type HistoryStep, historyOfLayers } from '../../src/image/config.js';
import { openImage } from '../../src/image/image.js';
import { fixtures, makeTar, rmrf, tempDir, writeLayout } from './helpers.js';

const tmp = tempDir();
afterAll(() => rmrf(tmp));

const step = (createdBy: string, emptyLayer = false): HistoryStep => ({ createdBy, emptyLayer });

describe('history → layers', () => {
  it('empty_layer steps at the start, in the middle and at the end are skipped', () => {
    const h = [step('FROM scratch', true), step('ADD a'), step('ENV x=1', true), step('RUN b'), step('CMD c', true)];
    expect(historyOfLayers(h, 2).map((s) => s?.createdBy)).toEqual(['ADD a', 'RUN b']);
  });

  it('a history that does not add up maps as far as it goes, and says so', () => {
    const said: number[] = [];
    const h = [step('ADD a'), step('CMD', true), step('RUN b'), step('RUN c')];
    expect(historyOfLayers(h, 2, (n) => said.push(n)).map((s) => s?.createdBy)).toEqual(['ADD a', 'RUN b']);
    expect(said).toEqual([3]);
    expect(historyOfLayers([], 2)).toEqual([undefined, undefined]);
  });

  it('fixtures/example: the last step (CMD) is an empty layer; the rm steps are layers 3 to 5', async () => {
    const image = await openImage([path.join(fixtures, 'example', 'oci')]);
    await image.close();
    const by = image.layers.map((l) => l.history?.createdBy ?? '');
    expect(by).toHaveLength(6);
    expect(by[3]).toContain('rm /root/.ssh/id_rsa /app/.env');
    expect(by[4]).toContain('rm -rf /app/cache');
    expect(by[5]).toContain('rm /app/plain-delete.txt');
    expect(by.some((b) => b.includes('CMD'))).toBe(false);
  });

  it('an image whose config has empty_layer steps between layers', async () => {
    const dir = path.join(tmp, 'img');
    writeLayout(dir, [
      {
        layers: [{ tar: await makeTar([{ name: 'a', content: '1' }]) }, { tar: await makeTar([{ name: 'b', content: '2' }]) }],
        history: [{ created_by: 'ADD a' }, { created_by: 'WORKDIR /', empty_layer: true }, { created_by: 'LABEL x', empty_layer: true }, { created_by: 'ADD b', comment: 'second' }],
      },
    ]);
    const image = await openImage([dir]);
    await image.close();
    expect(image.layers.map((l) => [l.history?.createdBy, l.history?.comment])).toEqual([
      ['ADD a', undefined],
      ['ADD b', 'second'],
    ]);
  });
});
