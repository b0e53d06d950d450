# Entry point for users without flakes:
#   imports = [ (import /path/to/cadline/nix { inherit pkgs; }).module ];
{ pkgs ? import <nixpkgs> { } }:

{
  package = pkgs.callPackage ./package.nix { };
  module = ./module.nix;
}
