/**
 * The child's imagination: what a thing might want, like or be about to do. Every idea is a predicate
 * with agreement marks (see grammar.agree) and may be limited to scenes where it stays true to the
 * picture (an owl awake at night, a camel under the desert sun). No idea names a thing from the catalog,
 * so the texts never mention something the picture does not show.
 */
import type { Scene } from '../types.ts';

type Cond = (scene: Scene) => boolean;
export type Idea = string | [string, Cond];

const day: Cond = (s) => s.time === 'day';
const night: Cond = (s) => s.time === 'night';
const outdoors: Cond = (s) => ['grass', 'beach', 'snow', 'street', 'desert'].includes(s.background);
const onGrass: Cond = (s) => s.background === 'grass';
const warm: Cond = (s) => s.background !== 'snow' && s.weather !== 'rainy';
const dry: Cond = (s) => s.weather !== 'rainy' && s.weather !== 'snowy';
const wet: Cond = (s) => s.weather === 'rainy';

const ANIMAL: Idea[] = [
  'want{s} to run and play',
  '{is} looking for a good friend',
  'want{s} to play a game',
  '{is} ready for a fun day',
  'would like a little nap soon',
  '{is} thinking about lunch',
  'want{s} to go on an adventure',
  '{is} very happy to be here',
  'want{s} someone to play with',
  '{is} hoping for a sweet treat',
  ['want{s} to go for a long walk', outdoors],
  ['want{s} to jump in a puddle', wet],
];

const SPECIFIC: Record<string, Idea[]> = {
  dog: ['want{s} to chase a stick', 'want{s} to dig a big hole', '{is} hoping for a bone', 'want{s} to wag {its} tail'],
  cat: ['want{s} a warm nap', 'want{s} to play with a string', '{is} quiet and careful', ['want{s} to sit in the sunshine', day]],
  cow: ['say{s} moo to everyone', ['want{s} to eat more grass', onGrass]],
  pig: ['want{s} to roll in the mud', 'love{s} to play in the mud'],
  horse: ['want{s} to run very fast', '{is} strong and fast'],
  sheep: ['{has} a soft coat of wool', 'want{s} to eat some grass'],
  chicken: ['{is} looking for seeds', 'want{s} to find a worm'],
  chick: ['{is} looking for {its} mother', 'want{s} to find a worm'],
  duck: ['say{s} quack quack', 'want{s} to splash in the water'],
  bird: ['want{s} to sing a song', 'want{s} to build a nest'],
  owl: [['stay{s} awake all night', night], '{is} very wise', 'can turn {its} head around'],
  penguin: ['want{s} to slide on the ice', 'want{s} to dive into the cold water'],
  parrot: ['want{s} to say hello', 'can talk like a person'],
  swan: ['{is} very proud and pretty', 'want{s} to glide on the water'],
  flamingo: ['love{s} the color pink', 'can stand on one leg'],
  fish: ['want{s} to swim fast', 'want{s} to play hide and seek'],
  whale: ['want{s} to blow water up high', '{is} the biggest animal in the sea'],
  dolphin: ['want{s} to jump over the waves', 'like{s} to play games'],
  shark: ['{is} looking for lunch', 'want{s} to swim very fast'],
  octopus: ['{has} eight long arms', 'want{s} to give a big hug'],
  crab: ['walk{s} sideways', 'want{s} to dig in the sand'],
  turtle: ['{is} slow but happy', 'carr{ies} {its} home on {its} back'],
  frog: ['want{s} to hop and jump', 'want{s} to catch a fly'],
  snake: ['want{s} to find a warm rock', 'say{s} hiss to everyone'],
  rabbit: ['want{s} to hop around', 'want{s} a fresh green lunch'],
  mouse: ['{is} looking for a little treat', 'want{s} to hide in a hole'],
  bear: ['want{s} some sweet honey', 'want{s} a big warm hug'],
  panda: ['want{s} a long nap', 'want{s} to eat and play all day'],
  koala: ['want{s} a long sleep', 'want{s} to hold on tight'],
  lion: ['{is} the king of the animals', 'want{s} to roar very loud'],
  tiger: ['want{s} to roar very loud', '{has} orange and black stripes'],
  fox: ['{is} quick and clever', 'want{s} to play hide and seek'],
  monkey: ['want{s} to swing and climb', 'want{s} to play a funny trick'],
  elephant: ['{has} a long nose', '{has} very big ears'],
  giraffe: ['{has} a very long neck', 'can see over the hills'],
  zebra: ['{has} black and white stripes', 'want{s} to run with friends'],
  camel: [['{is} not afraid of the heat', day], 'can walk for a long time'],
  kangaroo: ['want{s} to jump high', 'can hop very far'],
  hippo: ['want{s} to take a bath', 'want{s} to swim in the river'],
  hedgehog: ['{is} small but brave', '{is} shy but friendly'],
  butterfly: ['{is} looking for a pretty plant', 'want{s} to dance in the air'],
  bee: ['{is} busy all day long', 'want{s} to make sweet honey'],
  ladybug: ['{has} little black spots', 'want{s} to take a walk'],
  snail: ['{is} very, very slow', 'carr{ies} {its} home on {its} back'],
  dinosaur: ['want{s} to make a new friend', '{is} big but very kind'],
  unicorn: ['{is} full of magic', 'want{s} to make a wish come true'],
  cake: ['{is} ready for a birthday party', 'look{s} sweet and pretty'],
  cupcake: ['{is} ready for a party', 'look{s} sweet and pretty'],
  cookie: ['{is} full of chocolate bits', 'smell{s} sweet and warm'],
  'ice cream': ['{is} cold and sweet', '{is} a cold treat'],
  lollipop: ['{is} sweet and round', '{has} all the colors'],
  pizza: ['smell{s} so good', '{is} ready for lunch'],
  bread: ['smell{s} warm and fresh'],
  'fire truck': ['{is} ready to help', 'want{s} to save the day'],
  'police car': ['keep{s} everyone safe', '{is} ready to help'],
  bus: ['take{s} children to school', 'want{s} to go all over town'],
  truck: ['carr{ies} big boxes', '{is} ready for work'],
  tractor: ['help{s} on the farm', '{is} ready to work hard'],
  bike: ['{is} ready for a ride', 'want{s} to go fast'],
  train: ['want{s} to go down the track', 'carr{ies} people to new places'],
  airplane: ['{is} taking people on a trip', 'want{s} to fly over the sea'],
  helicopter: ['can fly up and down', 'want{s} to go for a ride in the sky'],
  rocket: ['{is} going on a trip', 'want{s} to fly very far'],
  boat: ['{is} sailing on the water', 'want{s} to go for a long trip'],
  ball: ['{is} ready to roll', 'want{s} someone to kick {them}'],
  kite: ['dance{s} in the wind', 'want{s} to fly even higher'],
  'teddy bear': ['want{s} a big hug', '{is} soft and fuzzy'],
  balloon: ['want{s} to float up high', 'might fly away'],
  drum: ['can make a loud sound', '{is} ready for music'],
  guitar: ['can play a happy song', '{is} ready for music'],
  skateboard: ['{is} ready to roll', 'want{s} to go fast'],
  gift: ['{has} a surprise inside', '{is} for a birthday'],
  book: ['{is} full of stories', '{has} pictures inside'],
  hat: ['{is} waiting for someone to wear {them}', 'look{s} very fancy'],
  shoe: ['{is} ready for a walk', 'want{s} to go outside'],
  sock: ['keep{s} feet warm', '{is} soft and warm'],
  dress: ['{is} pretty and new', '{is} ready for a party'],
  crown: ['{is} fit for a king', 'shine{s} like gold'],
  glasses: ['help{s} people see', '{is} waiting for someone'],
  backpack: ['{is} ready for school', '{is} full of fun things'],
  umbrella: [['keep{s} the rain away', wet], 'keep{s} people dry'],
  cup: ['{has} warm tea inside', '{is} ready for a drink'],
  spoon: ['{is} ready for soup', '{is} shiny and clean'],
  chair: ['{is} a nice place to sit', '{is} waiting for someone'],
  bed: ['{is} soft and cozy', '{is} ready for sleep'],
  clock: ['say{s} it is time to play', 'tell{s} us the time'],
  key: ['can open a secret door', '{is} small but important'],
  candle: ['give{s} a little light', '{has} a warm glow'],
  crayon: ['can draw a pretty picture', 'want{s} to color something'],
  pencil: ['{is} ready to write', 'can draw a funny face'],
  scissors: ['can cut paper', '{is} sharp, so be careful'],
  bell: ['can ring very loud', 'can ring and ring'],
  house: ['{is} a cozy home', '{has} a nice front door'],
  castle: ['{is} where a king and queen live', '{has} tall towers'],
  tent: ['{is} a fun place to sleep', '{is} ready for a night outside'],
  tree: ['{is} tall and strong', '{is} a home for small animals'],
  'pine tree': ['smell{s} fresh and nice', 'stay{s} green all year'],
  'palm tree': ['{is} tall and thin', ['give{s} a little shade', day]],
  flower: ['smell{s} sweet', '{is} pretty and fresh'],
  tulip: ['{is} pretty and bright', 'smell{s} sweet'],
  sunflower: ['{is} tall and bright', 'want{s} to grow very tall'],
  rose: ['smell{s} very sweet', '{is} a sign of love'],
  cactus: ['{has} sharp little points', ['like{s} hot days', day]],
  mushroom: ['{is} a tiny home for bugs', '{is} round on top'],
  leaf: ['came down from a tall branch', 'want{s} to dance in the wind'],
  snowman: ['{is} happy in the cold', 'wear{s} a warm scarf'],
  fire: ['keep{s} everyone warm', 'glow{s} orange and bright'],
  sun: ['{is} shining bright', 'keep{s} everything warm'],
  moon: ['{is} glowing in the dark', 'watch{es} over everyone'],
  star: ['shine{s} very bright', 'want{s} to make a wish'],
  cloud: ['{is} soft like cotton', 'float{s} slowly by'],
  rainbow: ['{has} so many colors', '{is} bright and pretty'],
};

const KIND: Record<string, Idea[]> = {
  animal: ANIMAL,
  food: ['look{s} so good to eat', '{is} ready to eat', ['would be a nice picnic', dry], '{is} waiting for someone hungry'],
  vehicle: ['want{s} to go on a long trip', '{is} ready to go', 'can go very fast'],
  toy: ['{is} ready for play time', 'want{s} to be played with', '{is} a favorite toy'],
  thing: ['{is} waiting for someone', 'look{s} nice and new'],
  place: ['{is} a nice place to be'],
  nature: ['{is} pretty to look at', ['grow{s} in the warm light', warm]],
  sky: ['make{s} the sky pretty'],
};

export function ideasFor(name: string, kind: string, scene: Scene): string[] {
  const pool = [...(SPECIFIC[name] ?? []), ...(SPECIFIC[name] ? [] : (KIND[kind] ?? [])), ...(kind === 'animal' ? ANIMAL.slice(0, 4) : [])];
  return pool.flatMap((idea) => (typeof idea === 'string' ? [idea] : idea[1](scene) ? [idea[0]] : []));
}

/** How a subject could feel about or act on another thing; {X} is the other thing's noun phrase. */
export function pairIdeas(subjectKind: string, subjectName: string, objName: string, objKind: string): string[] {
  const out: string[] = [];
  const animal = subjectKind === 'animal';
  if (animal) {
    switch (objKind) {
      case 'food':
        out.push('want{s} to eat {X}', 'would like a bite of {X}', '{is} hungry for {X}', 'can smell {X}');
        break;
      case 'toy':
        if (objName === 'ball') out.push('want{s} to chase {X}', 'want{s} to kick {X}', 'want{s} to play with {X}');
        else if (objName === 'balloon') out.push('want{s} to catch {X}', 'want{s} to hold {X}');
        else if (objName === 'kite') out.push('want{s} to fly {X}', 'want{s} to catch {X}');
        else if (objName === 'teddy bear') out.push('want{s} to hug {X}', 'want{s} to play with {X}');
        else if (objName === 'drum' || objName === 'guitar') out.push('want{s} to play {X}', 'want{s} to make music with {X}');
        else if (objName === 'skateboard') out.push('want{s} to ride {X}');
        else if (objName === 'gift') out.push('want{s} to open {X}', 'want{s} to know what is inside {X}');
        else out.push('want{s} to play with {X}');
        break;
      case 'vehicle':
        out.push(
          ['bike', 'tractor', 'boat', 'skateboard'].includes(objName) ? 'want{s} a ride on {X}' : 'want{s} a ride in {X}',
          'want{s} to race {X}',
        );
        break;
      case 'animal':
        out.push('want{s} to play with {X}', 'say{s} hello to {X}', 'want{s} to race {X}', 'want{s} to be friends with {X}', 'want{s} to play tag with {X}');
        break;
      case 'thing':
        if (['hat', 'crown', 'glasses', 'shoe', 'sock', 'dress', 'backpack'].includes(objName)) {
          out.push('want{s} to try on {X}', 'want{s} to wear {X}');
        } else if (objName === 'book') out.push('want{s} to read {X}', 'want{s} to look at {X}');
        else if (objName === 'bed') out.push('want{s} to sleep in {X}', 'want{s} to jump on {X}');
        else if (objName === 'chair') out.push('want{s} to sit on {X}');
        else if (objName === 'umbrella') out.push('want{s} to hide under {X}');
        else if (objName === 'cup') out.push('want{s} a sip from {X}');
        else if (objName === 'bell') out.push('want{s} to ring {X}');
        else out.push('want{s} to pick up {X}', '{is} looking at {X}');
        break;
      case 'place':
        out.push('want{s} to go inside {X}', 'want{s} to live in {X}');
        break;
      case 'nature':
        if (objName.endsWith('tree')) out.push('want{s} to sit under {X}', 'want{s} to rest by {X}');
        else if (['flower', 'tulip', 'sunflower', 'rose'].includes(objName)) out.push('want{s} to smell {X}');
        else if (objName === 'fire') out.push('want{s} to get warm by {X}');
        else if (objName === 'snowman') out.push('want{s} to play with {X}', 'say{s} hello to {X}');
        else out.push('{is} looking at {X}');
        break;
      case 'sky':
        out.push('{is} looking up at {X}', 'like{s} to watch {X}');
        break;
    }
    return out;
  }
  if (subjectKind === 'vehicle' && objKind === 'vehicle') out.push('want{s} to race {X}');
  if (subjectKind === 'vehicle' && objKind === 'place') out.push('{is} going to {X}');
  if (subjectKind === 'sky' && subjectName === 'sun') out.push('shine{s} down on {X}');
  if (subjectKind === 'sky' && (subjectName === 'moon' || subjectName === 'star')) out.push('watch{es} over {X}');
  if (['toy', 'food', 'vehicle', 'thing'].includes(subjectKind) && objKind !== 'sky') out.push('{is} good friends with {X}');
  return out;
}
