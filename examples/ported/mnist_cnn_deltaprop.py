"""A small CNN classifier trained like PyTorch's ``mnist`` example: Conv2d, max pooling, Adadelta, StepLR.

The images are synthetic 12 x 12 strokes (ten classes of bars and crosses
with noise) so that the program needs no download; the network, the loss
(``log_softmax`` + ``nll_loss``), the optimizer and the schedule are the
example's. The starting weights come from NumPy and the batches are not
shuffled, so this file and ``mnist_cnn_deltaprop.py`` (only the import lines
differ) reach the same loss; ``--dropout 0`` makes the runs deterministic.
"""

# ruff: noqa: I001 - the two copies keep their import lines in the same places
from __future__ import annotations

import argparse

import numpy as np
import deltaprop as torch
import deltaprop.nn as nn
import deltaprop.nn.functional as F
from deltaprop.optim.lr_scheduler import StepLR
from deltaprop.utils.data import DataLoader, TensorDataset

SIDE = 12


def stroke_images(n, rng):
    """Ten classes: a horizontal, vertical or diagonal bar at one of a few places, plus noise."""
    labels = rng.integers(0, 10, n)
    images = rng.normal(0, 0.3, (n, 1, SIDE, SIDE)).astype(np.float32)
    for i, label in enumerate(labels):
        where = 2 + 3 * (label % 3)
        if label < 3:
            images[i, 0, where, :] += 2
        elif label < 6:
            images[i, 0, :, where] += 2
        elif label < 9:
            images[i, 0, np.arange(SIDE), (np.arange(SIDE) + where) % SIDE] += 2
        else:
            images[i, 0, SIDE // 2, :] += 2
            images[i, 0, :, SIDE // 2] += 2
    return images, labels


class Net(nn.Module):
    def __init__(self, dropout=0.25):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(2 * dropout)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        output = F.log_softmax(self.fc2(x), dim=1)
        return output


def shared_start(model, rng):
    with torch.no_grad():
        for p in model.parameters():
            fan_in = int(np.prod(p.shape[1:])) if p.dim() > 1 else 10
            bound = 1.0 / np.sqrt(fan_in)
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, tuple(p.shape)).astype(np.float32)))


def train(model, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % 10 == 0:
            seen = batch_idx * len(data)
            print(f"Train Epoch: {epoch} [{seen}/{len(train_loader.dataset)}]\tLoss: {loss.item():.6f}")


def test(model, test_loader):
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in test_loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    print(f"Test set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{len(test_loader.dataset)}")
    return test_loss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.7)
    parser.add_argument("--dropout", type=float, default=0.25)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(3)
    images, labels = stroke_images(args.samples, rng)
    split = args.samples * 5 // 6
    train_set = TensorDataset(torch.from_numpy(images[:split]), torch.from_numpy(labels[:split]))
    test_set = TensorDataset(torch.from_numpy(images[split:]), torch.from_numpy(labels[split:]))
    train_loader = DataLoader(train_set, batch_size=32)
    test_loader = DataLoader(test_set, batch_size=100)

    model = Net(args.dropout)
    shared_start(model, rng)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    for epoch in range(1, args.epochs + 1):
        train(model, train_loader, optimizer, epoch)
        test_loss = test(model, test_loader)
        scheduler.step()
    return test_loss


if __name__ == "__main__":
    main()
