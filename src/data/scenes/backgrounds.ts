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

export const BACKGROUND_SPECS: Record<BackgroundId, BackgroundSpec> = {
  grass: {
    id: 'grass',
    weight: 18,
    zones: ['sky', 'ground'],
    outdoor: true,
    times: { day: 60, evening: 20, night: 20 },
    weather: { clear: 55, cloudy: 25, rainy: 20 },
    horizon: [0.38, 0.5],
  },
  sky: {
    id: 'sky',
    weight: 8,
    zones: ['sky'],
    outdoor: true,
    times: { day: 65, evening: 20, night: 15 },
    weather: { clear: 60, cloudy: 40 },
    horizon: [0, 0],
  },
  beach: {
    id: 'beach',
    weight: 11,
    zones: ['sky', 'water', 'ground'],
    outdoor: true,
    times: { day: 70, evening: 20, night: 10 },
    weather: { clear: 70, cloudy: 20, rainy: 10 },
    horizon: [0.28, 0.34],
  },
  sea: {
    id: 'sea',
    weight: 8,
    zones: ['water'],
    outdoor: false,
    times: { day: 1 },
    weather: { clear: 1 },
    horizon: [0, 0],
  },
  snow: {
    id: 'snow',
    weight: 9,
    zones: ['sky', 'ground'],
    outdoor: true,
    times: { day: 60, evening: 20, night: 20 },
    weather: { clear: 40, cloudy: 20, snowy: 40 },
    horizon: [0.38, 0.5],
  },
  room: {
    id: 'room',
    weight: 13,
    zones: ['air', 'ground'],
    outdoor: false,
    times: { day: 1 },
    weather: { clear: 1 },
    horizon: [0.52, 0.6],
  },
  kitchen: {
    id: 'kitchen',
    weight: 11,
    zones: ['ground'],
    outdoor: false,
    times: { day: 1 },
    weather: { clear: 1 },
    horizon: [0.38, 0.46],
  },
  street: {
    id: 'street',
    weight: 10,
    zones: ['sky', 'ground'],
    outdoor: true,
    times: { day: 60, evening: 20, night: 20 },
    weather: { clear: 55, cloudy: 25, rainy: 20 },
    horizon: [0.36, 0.44],
  },
  desert: {
    id: 'desert',
    weight: 7,
    zones: ['sky', 'ground'],
    outdoor: true,
    times: { day: 70, evening: 20, night: 10 },
    weather: { clear: 1 },
    horizon: [0.4, 0.5],
  },
  space: {
    id: 'space',
    weight: 4,
    zones: ['space'],
    outdoor: false,
    times: { night: 1 },
    weather: { clear: 1 },
    horizon: [0, 0],
  },
  // Free layout only (weight 0: the habitat layout never picks them). Fliers go up in the air, the rest stand.
  plain: {
    id: 'plain',
    weight: 0,
    zones: ['ground', 'sky'],
    outdoor: false,
    times: { day: 1 },
    weather: { clear: 1 },
    horizon: [0, 0],
  },
  'two-tone': {
    id: 'two-tone',
    weight: 0,
    zones: ['ground', 'sky'],
    outdoor: false,
    times: { day: 1 },
    weather: { clear: 1 },
    horizon: [0, 0],
  },
};

/** Where the water band of a beach ends (fraction of the height); the sand starts there. */
export const BEACH_SHORE: [number, number] = [0.54, 0.6];
