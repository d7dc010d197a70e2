/**
 * The one place the CLI turns a `--model` name into a network. Two families share the `resnet` prefix:
 * torchvision's ImageNet ResNets (`getModel` / `listModels`, which stay torchvision's registry so that
 * a name means what it means in torchvision) and the paper's CIFAR-10 ResNets (`getCifarModel`;
 * torchvision has none). The names do not overlap. Commands that run any network (`bench`, `export`)
 * take both families; commands bound to one dataset (`classify`: ImageNet weights and categories,
 * `eval-cifar10`) take their family and name the other command for the rest.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import {
  getCifarModel, getModel, listCifarModels, listModels,
  type CifarResNet, type ComputeDType, type DeviceSpec, type ResNet,
} from '../index.js';

/** The family a model name belongs to. */
export type ModelFamily = 'imagenet' | 'cifar10';

/** Options every family's builder takes. */
export interface NamedModelOptions {
  numClasses?: number;
  device?: DeviceSpec;
  dtype?: ComputeDType;
}

function choices(): string {
  return `${listModels().join(', ')} (torchvision, ImageNet) or ${listCifarModels().join(', ')} (CIFAR-10)`;
}

/** The family of `name`, or null for a name of neither. */
export function modelFamily(name: string): ModelFamily | null {
  if ((listModels() as string[]).includes(name)) return 'imagenet';
  if ((listCifarModels() as string[]).includes(name)) return 'cifar10';
  return null;
}

/**
 * The family of `name`, checked against what the command accepts.
 * @throws InvalidArgumentError for an unknown name (listing both families) or one of a family the
 *   command does not take (naming the command that does).
 */
export function checkModelName(name: string, accepted: readonly ModelFamily[] = ['imagenet', 'cifar10']): ModelFamily {
  const family = modelFamily(name);
  if (family === null) throw new InvalidArgumentError(`Unknown model ${JSON.stringify(name)}; choose one of ${choices()}`);
  if (!accepted.includes(family)) {
    throw new InvalidArgumentError(
      family === 'cifar10'
        ? `${name} is a CIFAR-10 network (32x32 images, 10 classes, no ImageNet weights): use resnet eval-cifar10 for it, or one of ${listModels().join(', ')} here`
        : `${name} is a torchvision ImageNet network: this command takes the CIFAR-10 networks ${listCifarModels().join(', ')}`,
    );
  }
  return family;
}

/** The side of the square images a family's networks are made for: 224 for ImageNet, 32 for CIFAR-10. */
export function defaultInputSize(name: string): number {
  return modelFamily(name) === 'cifar10' ? 32 : 224;
}

/** Builds the network `name` of either family with random weights. */
export function buildNamedModel(name: string, options: NamedModelOptions = {}): ResNet | CifarResNet {
  return checkModelName(name) === 'cifar10' ? getCifarModel(name, options) : getModel(name, options);
}
