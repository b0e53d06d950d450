# Entry point without flakes. In a NixOS configuration import the module by
# path (not through this file's `pkgs` argument, which `imports` cannot use
# without infinite recursion):
#   imports = [ /path/to/cadline/nix/module.nix ];
# Build the package alone with `nix-build /path/to/cadline/nix -A package`.
{ pkgs ? import <nixpkgs> { } }:

{
  package = pkgs.callPackage ./package.nix { };
  module = ./module.nix;
}
