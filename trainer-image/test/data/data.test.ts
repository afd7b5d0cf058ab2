import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeBatches } from '../../src/data/batches.ts';
import { loadDataset } from '../../src/data/dataset.ts';
import { IGNORE_INDEX, tokenizeRecord } from '../../src/data/examples.ts';
import { DatasetError, parseJsonl } from '../../src/data/jsonl.ts';
import { shuffled } from '../../src/data/random.ts';
import { promptAndAnswer } from '../../src/train/exact-match.ts';
import { byteTokenizer } from '../helpers/tiny.ts';

const bytes = (s: string) => [...Buffer.from(s, 'utf8')];
const labelled = (ids: number[], labels: number[]) => ids.filter((_, i) => labels[i] !== IGNORE_INDEX);

describe('examples', () => {
  it('prompt/completion: bos + prompt masked, completion + eos learned', async () => {
    const tok = await byteTokenizer();
    const ex = tokenizeRecord(
      tok,
      { kind: 'prompt', prompt: 'Q:2+2=', completion: '4', line: 1 },
      { maxSeqLength: 64, file: 'f' },
    );
    expect(ex?.inputIds).toEqual([256, ...bytes('Q:2+2='), ...bytes('4'), 257]);
    expect(labelled(ex?.inputIds ?? [], ex?.labels ?? [])).toEqual([...bytes('4'), 257]);
  });

  it('messages: only assistant turns (with their end marker) are learned', async () => {
    const tok = await byteTokenizer();
    const messages = [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'yo' },
      { role: 'user', content: 'again' },
      { role: 'assistant', content: 'ok' },
    ];
    const ex = tokenizeRecord(tok, { kind: 'messages', messages, line: 3 }, { maxSeqLength: 256, file: 'f' });
    expect(tok.decode(labelled(ex?.inputIds ?? [], ex?.labels ?? []), false)).toBe('yo<|im_end|>\nok<|im_end|>\n');
  });

  it('text: every token learned; truncation keeps the first maxSeqLength tokens', async () => {
    const tok = await byteTokenizer();
    const ex = tokenizeRecord(tok, { kind: 'text', text: 'abcdefgh', line: 1 }, { maxSeqLength: 4, file: 'f' });
    expect(ex?.inputIds).toEqual([256, ...bytes('abc')]);
    expect(ex?.labels).toEqual(ex?.inputIds);
  });

  it('maxPromptLength drops the oldest prompt tokens (keeping BOS), before maxSeqLength applies', async () => {
    const tok = await byteTokenizer();
    const record = { kind: 'prompt' as const, prompt: 'abcdefgh', completion: 'xy', line: 1 };
    const ex = tokenizeRecord(tok, record, { maxSeqLength: 8, maxPromptLength: 4, file: 'f' });
    expect(ex?.inputIds).toEqual([256, ...bytes('fgh'), ...bytes('xy'), 257]);
    expect(ex?.labels).toEqual([IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, ...bytes('xy'), 257]);
    // Without the prompt limit the same maxSeqLength leaves no response token.
    expect(tokenizeRecord(tok, record, { maxSeqLength: 8, file: 'f' })).toBeNull();
    // A prompt already within the limit, and text (no prompt), are unchanged.
    const short = tokenizeRecord(tok, { ...record, prompt: 'ab' }, { maxSeqLength: 64, maxPromptLength: 4, file: 'f' });
    expect(short?.inputIds).toEqual([256, ...bytes('ab'), ...bytes('xy'), 257]);
    const text = tokenizeRecord(
      tok,
      { kind: 'text', text: 'abcdefgh', line: 1 },
      {
        maxSeqLength: 64,
        maxPromptLength: 2,
        file: 'f',
      },
    );
    expect(text?.inputIds).toEqual([256, ...bytes('abcdefgh'), 257]);
  });

  it('maxPromptLength on messages cuts the turns before the first assistant turn from the left', async () => {
    const tok = await byteTokenizer();
    const messages = [
      { role: 'user', content: 'a long question' },
      { role: 'assistant', content: 'yo' },
    ];
    const full = tokenizeRecord(tok, { kind: 'messages', messages, line: 1 }, { maxSeqLength: 256, file: 'f' });
    const cut = tokenizeRecord(
      tok,
      { kind: 'messages', messages, line: 1 },
      { maxSeqLength: 256, maxPromptLength: 5, file: 'f' },
    );
    const promptOf = (ex: typeof cut) =>
      (ex?.inputIds ?? []).slice(
        0,
        ex?.labels.findIndex((l) => l !== IGNORE_INDEX),
      );
    expect(promptOf(cut)).toEqual(promptOf(full).slice(-5));
    expect(labelled(cut?.inputIds ?? [], cut?.labels ?? [])).toEqual(
      labelled(full?.inputIds ?? [], full?.labels ?? []),
    );
  });

  it('exact-match prompts are cut by maxPromptLength exactly as training prompts are', async () => {
    const tok = await byteTokenizer();
    const record = { kind: 'prompt' as const, prompt: 'abcdefgh', completion: 'xy', line: 1 };
    const trained = tokenizeRecord(tok, record, { maxSeqLength: 64, maxPromptLength: 4, file: 'f' });
    const asked = promptAndAnswer(tok, record, 4);
    expect(asked?.prompt).toEqual(trained?.inputIds.slice(0, 4));
    expect(asked?.prompt).toEqual([256, ...bytes('fgh')]);
    expect(promptAndAnswer(tok, record)?.prompt).toEqual([256, ...bytes('abcdefgh')]);
  });

  it('drops an example whose completion lies beyond maxSeqLength', async () => {
    const tok = await byteTokenizer();
    const record = { kind: 'prompt' as const, prompt: 'a long prompt', completion: 'x', line: 1 };
    expect(tokenizeRecord(tok, record, { maxSeqLength: 6, file: 'f' })).toBeNull();
  });
});

describe('batches', () => {
  const ex = (n: number, start: number) => ({
    inputIds: Array.from({ length: n }, (_, i) => start + i),
    labels: Array.from({ length: n }, (_, i) => start + i),
    line: start,
  });

  it('pads one example per row with segment 0 and ignored labels', () => {
    const [b] = makeBatches([ex(3, 10), ex(5, 20)], { batchSize: 2, maxSeqLength: 8, padId: 0 });
    expect(b?.seqLen).toBe(5);
    expect([...(b?.inputIds ?? [])]).toEqual([10, 11, 12, 0, 0, 20, 21, 22, 23, 24]);
    expect([...(b?.segmentIds ?? [])]).toEqual([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    expect([...(b?.labels ?? [])].slice(3, 5)).toEqual([IGNORE_INDEX, IGNORE_INDEX]);
  });

  it('packs examples into rows as separate segments with positions restarting at 0', () => {
    const [b] = makeBatches([ex(3, 10), ex(2, 20), ex(4, 30)], {
      batchSize: 2,
      maxSeqLength: 6,
      padId: 0,
      packing: true,
      fixedLength: true,
    });
    expect(b?.batch).toBe(2);
    expect([...(b?.segmentIds ?? [])]).toEqual([1, 1, 1, 2, 2, 0, 1, 1, 1, 1, 0, 0]);
    expect([...(b?.positionIds ?? [])].slice(0, 5)).toEqual([0, 1, 2, 0, 1]);
  });

  it('shuffles deterministically by seed', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    expect(shuffled(items, 3)).toEqual(shuffled(items, 3));
    expect(shuffled(items, 3)).not.toEqual(shuffled(items, 4));
    expect([...shuffled(items, 3)].sort((a, b) => a - b)).toEqual(items);
  });
});

describe('malformed dataset lines are refused with file, line and reason', () => {
  const cases: [string, string, RegExp][] = [
    ['invalid JSON', '{"text": "a"', /data\.jsonl:2: invalid JSON/],
    ['not an object', '["text"]', /data\.jsonl:2: expected a JSON object/],
    ['no known field', '{"input": "a"}', /data\.jsonl:2: has none of "messages", "prompt"\/"completion", "text"/],
    ['mixed formats', '{"text": "a", "prompt": "b", "completion": "c"}', /data\.jsonl:2: mixes formats/],
    ['empty messages', '{"messages": []}', /data\.jsonl:2: "messages" must be a non-empty array/],
    [
      'unknown role',
      '{"messages": [{"role": "bot", "content": "x"}]}',
      /data\.jsonl:2: messages\[0\]\.role must be one of/,
    ],
    [
      'content not a string',
      '{"messages": [{"role": "user", "content": 5}]}',
      /messages\[0\]\.content must be a string/,
    ],
    ['no assistant turn', '{"messages": [{"role": "user", "content": "x"}]}', /has no assistant turn/],
    ['prompt without completion', '{"prompt": "x"}', /data\.jsonl:2: "completion" must be a string next to "prompt"/],
    ['empty completion', '{"prompt": "x", "completion": ""}', /"completion" is empty/],
    ['text not a string', '{"text": 3}', /data\.jsonl:2: "text" must be a string/],
  ];
  it.each(cases)('%s', (_label, bad, message) => {
    const text = `{"text": "fine"}\n${bad}\n{"text": "also fine"}\n`;
    expect(() => parseJsonl(text, 'data.jsonl')).toThrow(DatasetError);
    expect(() => parseJsonl(text, 'data.jsonl')).toThrow(message);
  });

  it("policy 'skip' leaves bad lines out and counts them", () => {
    const text = '{"text": "a"}\nnot json\n\n{"prompt": 1}\n{"text": "b"}\n';
    const { records, skipped } = parseJsonl(text, 'data.jsonl', 'skip');
    expect(records.map((r) => r.line)).toEqual([1, 5]);
    expect(skipped.map((s) => s.line)).toEqual([2, 4]);
  });

  it('a declared format makes a line of another format a bad line', () => {
    const text = '{"prompt": "a", "completion": "b"}\n{"text": "c"}\n';
    expect(parseJsonl(text, 'd.jsonl').records).toHaveLength(2);
    expect(() => parseJsonl(text, 'd.jsonl', 'fail', 'prompt-completion')).toThrow(
      /d\.jsonl:2: is a text line, but the dataset's format is prompt-completion/,
    );
    expect(() => parseJsonl(text, 'd.jsonl', 'fail', 'messages')).toThrow(/d\.jsonl:1: is a prompt-completion line/);
    const { records, skipped } = parseJsonl(text, 'd.jsonl', 'skip', 'text');
    expect(records.map((r) => r.line)).toEqual([2]);
    expect(skipped).toEqual([{ line: 1, reason: "is a prompt-completion line, but the dataset's format is text" }]);
    expect(() => parseJsonl('{"text": "c"}\n', 'd.jsonl', 'skip', 'messages')).toThrow(/no usable records/);
  });

  it('an empty dataset is an error, as is an unreadable file', async () => {
    expect(() => parseJsonl('\n\n', 'empty.jsonl')).toThrow(/empty\.jsonl:3: the dataset has no usable records/);
    const tok = await byteTokenizer();
    await expect(loadDataset('/nonexistent/data.jsonl', tok, { maxSeqLength: 16 })).rejects.toThrow(
      /\/nonexistent\/data\.jsonl: cannot be read/,
    );
  });

  it('loads a file, reporting examples truncated away', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lota-data-'));
    const file = join(dir, 'd.jsonl');
    await writeFile(file, '{"prompt": "0123456789", "completion": "x"}\n{"prompt": "1+1=", "completion": "2"}\n');
    const tok = await byteTokenizer();
    const ds = await loadDataset(file, tok, { maxSeqLength: 8 });
    expect(ds.examples).toHaveLength(1);
    expect(ds.truncatedAway).toEqual([1]);
    const cut = await loadDataset(file, tok, { maxSeqLength: 8, maxPromptLength: 4 });
    expect(cut.examples.map((e) => e.line)).toEqual([1, 2]);
    expect(cut.truncatedAway).toEqual([]);
    await expect(loadDataset(file, tok, { maxSeqLength: 8, maxPromptLength: 0 })).rejects.toThrow(/maxPromptLength/);
    await expect(loadDataset(file, tok, { maxSeqLength: 8, format: 'text' })).rejects.toThrow(
      /d\.jsonl:1: is a prompt-completion line/,
    );
  });
});
