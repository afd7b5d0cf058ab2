import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { byteLevelTokenizer, writeByteLevelTokenizer } from '../../src/tokenizer/byte-level.ts';
import { TextTokenizer, TokenizerError } from '../../src/tokenizer/tokenizer.ts';
import { byteTokenizer } from '../helpers/tiny.ts';

describe('byte-level tokenizer', () => {
  it('round-trips any UTF-8 text, one id per byte, special tokens as single ids', async () => {
    const tok = await byteTokenizer();
    const text = 'Grüße, 12+30=42 ☃\n\ttabs';
    const ids = tok.encode(text);
    expect(ids).toEqual([...Buffer.from(text, 'utf8')]);
    expect(tok.decode(ids)).toBe(text);
    expect(tok.encode('a<|im_end|>b')).toEqual([97, 260, 98]);
    expect([tok.bosId, tok.eosId, tok.padId]).toEqual([256, 257, 258]);
  });

  it('renders the ChatML template as transformers would', async () => {
    const tok = await byteTokenizer();
    const messages = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
    ];
    expect(tok.applyChatTemplate(messages)).toBe(
      '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n',
    );
    expect(tok.applyChatTemplate(messages.slice(0, 1), true)).toBe(
      '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
    );
  });
});

describe('malformed tokenizer files are refused', () => {
  async function dirWith(files: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'lota-badtok-'));
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    return dir;
  }
  const { tokenizerJson, tokenizerConfig } = byteLevelTokenizer();
  const json = (o: unknown) => JSON.stringify(o);
  const cases: [string, Record<string, string>, RegExp][] = [
    ['missing tokenizer.json', {}, /tokenizer\.json: cannot be read/],
    ['tokenizer.json not JSON', { 'tokenizer.json': '{"model": ' }, /tokenizer\.json: is not valid JSON/],
    ['tokenizer.json without a model', { 'tokenizer.json': json({ version: '1.0' }) }, /has no "model" with a "type"/],
    [
      'eos token not in the vocabulary',
      {
        'tokenizer.json': json(tokenizerJson),
        'tokenizer_config.json': json({ ...tokenizerConfig, eos_token: '</s>' }),
      },
      /eos_token "<\/s>" is not in the vocabulary/,
    ],
    [
      'chat template that does not parse',
      {
        'tokenizer.json': json(tokenizerJson),
        'tokenizer_config.json': json({ ...tokenizerConfig, chat_template: '{% for %}' }),
      },
      /chat template does not parse/,
    ],
    [
      'chat_template of the wrong type',
      {
        'tokenizer.json': json(tokenizerJson),
        'tokenizer_config.json': json({ ...tokenizerConfig, chat_template: 7 }),
      },
      /chat_template must be a string or a list/,
    ],
  ];
  it.each(cases)('%s', async (_label, files, message) => {
    const dir = await dirWith(files);
    const load = TextTokenizer.load(dir);
    await expect(load).rejects.toThrow(TokenizerError);
    await expect(TextTokenizer.load(dir)).rejects.toThrow(message);
  });

  it('a tokenizer without a chat template cannot render messages', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lota-notemplate-'));
    await writeByteLevelTokenizer(dir);
    const { chat_template: _, ...config } = tokenizerConfig;
    await writeFile(join(dir, 'tokenizer_config.json'), json(config));
    const tok = await TextTokenizer.load(dir);
    expect(() => tok.applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(/has no chat template/);
  });
});
