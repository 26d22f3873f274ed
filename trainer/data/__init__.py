"""Training-data building (`motion-train data`): sources -> HumanML3D layout, pairs, instructions.

bandai.py labels -> captions; captions.py text lines, POS tags, mirroring; splits.py stratified
splits; sources.py motion sources; build.py the orchestrator; pairs.py PoseFix pair mining;
instructions.py task mixture from templates/*.json; stats.py the report; procedural/ the generator.
"""
