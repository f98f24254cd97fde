/**
 * The vision encoder: a small ViT over 16×16 patches with the paper's convolutional patch embedding.
 *   image [B, 3, S, S] -> patches -> conv 3→c1 (3×3, pad 1) -> conv c1→c2 (3×3, stride 2, pad 1)
 *   -> flatten -> LayerNorm -> ReLU -> Linear(→ img_embd_dim)   (one vector per patch)
 *   -> prepend [CLS] -> + learned positions -> dropout -> pre-LN blocks (bidirectional) -> LayerNorm
 */
import { Block, Conv2d, Dropout, LayerNorm, Linear, Module, ModuleList, Parameter } from '../nn/index.ts';
import { add, concat, chainedConv2d, expand, patchify, relu, reshape } from '../tensor/ops/index.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { numPatches, patchConvSide, patchFeatures, visionTokens, type ModelConfig } from './config.ts';

export class PatchEmbedding extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly norm: LayerNorm;
  readonly proj: Linear;
  constructor(readonly config: ModelConfig) {
    super();
    const [c1, c2] = config.patch_conv_channels;
    const feats = patchFeatures(config);
    this.conv1 = this.child('conv1', new Conv2d(3, c1, 3, { padding: 1 }));
    this.conv2 = this.child('conv2', new Conv2d(c1, c2, 3, { stride: 2, padding: 1 }));
    this.norm = this.child('norm', new LayerNorm(feats));
    this.proj = this.child('proj', new Linear(feats, config.img_embd_dim));
  }
  /** images [B, 3, S, S] -> [B, patches, img_embd_dim] (patches in row-major order). */
  forward(images: Tensor): Tensor {
    return this.proj.forward(relu(this.preActivation(images)));
  }

  /** The LayerNorm's output before the ReLU: [B, patches, features]. */
  preActivation(images: Tensor): Tensor {
    const B = images.shape[0]!;
    const flat = reshape(this.patchMaps(images), [B, numPatches(this.config), patchFeatures(this.config)]);
    return this.norm.forward(flat);
  }

  /** The convolutions' output cut per patch: [B*P, c2, s, s]. */
  private patchMaps(images: Tensor): Tensor {
    const p = this.config.patch_size;
    if (this.config.patch_stem === 'cnn') {
      // Over the whole picture, with a ReLU between: a thing cut by a patch border is still seen whole.
      const maps = this.conv2.forward(relu(this.conv1.forward(images))); // [B, c2, S/2, S/2]
      return patchify(maps, patchConvSide(this.config));
    }
    // conv2(conv1(patches)) a chunk of patches at a time: the 32-channel maps never go to memory whole.
    return chainedConv2d(patchify(images, p), this.conv1, this.conv2);
  }
}

export class VisionEncoder extends Module {
  readonly cls: Parameter;
  readonly pos: Parameter;
  readonly patch: PatchEmbedding;
  readonly drop: Dropout;
  readonly blocks: ModuleList<Block>;
  readonly ln_f: LayerNorm;
  constructor(readonly config: ModelConfig) {
    super();
    const V = config.img_embd_dim;
    this.cls = this.param('cls', new Parameter([1, 1, V]));
    this.pos = this.param('pos', new Parameter([visionTokens(config), V]));
    this.patch = this.child('patch', new PatchEmbedding(config));
    this.drop = this.child('drop', new Dropout(config.dropout));
    const opts = { causal: false, mlpRatio: config.mlp_ratio, dropout: config.dropout };
    const blocks = Array.from(
      { length: config.vision_blocks },
      () => new Block(V, config.vision_heads, opts),
    );
    this.blocks = this.child('blocks', new ModuleList(blocks));
    this.ln_f = this.child('ln_f', new LayerNorm(V));
  }
  /** images [B, 3, S, S] (normalised to [-1, 1]) -> [B, patches + 1, img_embd_dim], [CLS] first. */
  forward(images: Tensor): Tensor {
    const { image_size: S } = this.config;
    if (images.ndim !== 4 || images.shape[1] !== 3 || images.shape[2] !== S || images.shape[3] !== S) {
      throw new Error(`vision: images should be [B, 3, ${S}, ${S}], got [${images.shape.join(', ')}]`);
    }
    const B = images.shape[0]!;
    const patches = this.patch.forward(images);
    const cls = expand(this.cls, [B, 1, this.config.img_embd_dim]);
    let x = this.drop.forward(add(concat([cls, patches], 1), this.pos));
    for (const block of this.blocks) x = block.forward(x);
    return this.ln_f.forward(x);
  }
}
