// The LoTA code's seeded generator (random masks, LoRA initialisation) is the data module's; re-exported here for
// the many importers of this path.
export { type Random, seededRandom } from '../data/random.ts';
