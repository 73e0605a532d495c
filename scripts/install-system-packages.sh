#!/usr/bin/env bash
# Installs the system programs the lab needs (Java 17 with javac, graphviz's `dot`) when they are missing.
# As root it uses apt-get; otherwise it prints the exact command to run.
set -euo pipefail
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
[ ${#missing[@]} -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system packages: $packages"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
else
  echo "Missing system packages: $packages" >&2
  echo "Install them with: sudo apt-get install -y $packages   (conda: conda env create -f environment.yml)" >&2
  exit 1
fi
