/**
 * The model registry, like torchvision's `get_model` / `list_models`.
 * @module
 */
import { invalidArgument } from '../errors.js';
import {
  resnet18, resnet34, resnet50, resnet101, resnet152,
  resnext50_32x4d, resnext101_32x8d, resnext101_64x4d,
  wide_resnet50_2, wide_resnet101_2,
  type ResNet, type ResNetFactoryOptions,
} from './resnet.js';

const builders = {
  resnet18, resnet34, resnet50, resnet101, resnet152,
  resnext50_32x4d, resnext101_32x8d, resnext101_64x4d,
  wide_resnet50_2, wide_resnet101_2,
} as const satisfies Record<string, (options?: ResNetFactoryOptions) => ResNet>;

/** Names accepted by {@link getModel}. */
export type ModelName = keyof typeof builders;

/** Every registered model name, sorted. */
export function listModels(): ModelName[] {
  return (Object.keys(builders) as ModelName[]).sort();
}

/** Builds a registered model by name (`getModel('resnet50', { numClasses: 10 })`). */
export function getModel(name: string, options?: ResNetFactoryOptions): ResNet {
  if (!Object.prototype.hasOwnProperty.call(builders, name)) {
    throw invalidArgument(`one of ${listModels().join(', ')}`, 'model name', name);
  }
  return builders[name as ModelName](options);
}
