/** What each background offers: zones, times of day, weather, and how often it is chosen. */
import type { BackgroundId, TimeOfDay, Weather, Zone } from './types.ts';

export interface BackgroundSpec {
  id: BackgroundId;
  weight: number;
  zones: Zone[];
  /** Outdoors with a visible sky: time of day and weather apply. */
  outdoor: boolean;
  times: Partial<Record<TimeOfDay, number>>;
  weather: Partial<Record<Weather, number>>;
  /** Range of the horizon (sky/ground line) as a fraction of the height; [0, 0] when there is none. */
  horizon: [number, number];
}

export const SIZE = 224;

type Times = BackgroundSpec['times'];
type WeatherOdds = BackgroundSpec['weather'];

/** One row of the table: indoors (or without a visible sky) it is always day and clear. */
function spec(id: BackgroundId, weight: number, zones: Zone[], horizon: [number, number], outdoor = false, times: Times = { day: 1 }, weather: WeatherOdds = { clear: 1 }): BackgroundSpec {
  return { id, weight, zones, outdoor, times, weather, horizon };
}

const SPECS: BackgroundSpec[] = [
  spec('grass', 18, ['sky', 'ground'], [0.38, 0.5], true, { day: 60, evening: 20, night: 20 }, { clear: 55, cloudy: 25, rainy: 20 }),
  spec('sky', 8, ['sky'], [0, 0], true, { day: 65, evening: 20, night: 15 }, { clear: 60, cloudy: 40 }),
  spec('beach', 11, ['sky', 'water', 'ground'], [0.28, 0.34], true, { day: 70, evening: 20, night: 10 }, { clear: 70, cloudy: 20, rainy: 10 }),
  spec('sea', 8, ['water'], [0, 0]),
  spec('snow', 9, ['sky', 'ground'], [0.38, 0.5], true, { day: 60, evening: 20, night: 20 }, { clear: 40, cloudy: 20, snowy: 40 }),
  spec('room', 13, ['air', 'ground'], [0.52, 0.6]),
  spec('kitchen', 11, ['ground'], [0.38, 0.46]),
  spec('street', 10, ['sky', 'ground'], [0.36, 0.44], true, { day: 60, evening: 20, night: 20 }, { clear: 55, cloudy: 25, rainy: 20 }),
  spec('desert', 7, ['sky', 'ground'], [0.4, 0.5], true, { day: 70, evening: 20, night: 10 }),
  spec('space', 4, ['space'], [0, 0], false, { night: 1 }),
  // Free layout only (weight 0: the habitat layout never picks them). Fliers go up in the air, the rest stand.
  spec('plain', 0, ['ground', 'sky'], [0, 0]),
  spec('two-tone', 0, ['ground', 'sky'], [0, 0]),
];

export const BACKGROUND_SPECS = Object.fromEntries(SPECS.map((b) => [b.id, b])) as Record<BackgroundId, BackgroundSpec>;

/** Where the water band of a beach ends (fraction of the height); the sand starts there. */
export const BEACH_SHORE: [number, number] = [0.54, 0.6];
