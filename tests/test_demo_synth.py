"""The demo's music synthesizer and cached dataset generator: determinism, labels
that match the audio, manifests, caching and interrupted runs."""

import json
import shutil

import mir_eval
import numpy as np
import pytest
import soundfile

from semisupcon_recipe.demo import dataset as demo_dataset
from semisupcon_recipe.demo.dataset import LABEL_TYPES, DatasetCacheError, dataset_record, generate_dataset
from semisupcon_recipe.demo.instruments import Instrument, sample_timbre
from semisupcon_recipe.demo.production import produce, render_phrase
from semisupcon_recipe.demo.score import SCALES, compose_phrase, midi_to_hz
from semisupcon_recipe.demo.synth import clip_labels, clip_random_streams, draw_style, synthesize_clip
from semisupcon_recipe.demo.synth_config import INSTRUMENT_LABELS, KEY_NAMES, STYLE_NAMES, STYLES, TONICS, SynthConfig
from semisupcon_recipe.manifest import LabelVocabulary, read_manifest, split_tags

RATE = 16000
# The label types of a dataset generated with the default (style-free) config.
STYLE_FREE_LABEL_TYPES = {name: kind for name, kind in LABEL_TYPES.items() if name != "style"}
# Krumhansl-Kessler key profiles, C major and C minor.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
KEY_PROFILES = np.array([np.roll(MAJOR_PROFILE, k) for k in range(12)] + [np.roll(MINOR_PROFILE, k) for k in range(12)])


def chroma(audio: np.ndarray, n_fft: int = 8192, hop: int = 2048) -> np.ndarray:
    """Mean magnitude per pitch class (30 Hz - 5 kHz), summed over STFT bins."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft)[::hop] * np.hanning(n_fft)
    magnitude = np.abs(np.fft.rfft(frames, axis=1)).mean(axis=0)
    frequencies = np.fft.rfftfreq(n_fft, 1.0 / RATE)
    keep = (frequencies >= 30.0) & (frequencies <= 5000.0)
    pitch_class = np.round(12 * np.log2(frequencies[keep] / 440.0) + 69).astype(int) % 12
    return np.bincount(pitch_class, weights=magnitude[keep], minlength=12)


def magnitude_spectrum(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return np.fft.rfftfreq(audio.size, 1.0 / RATE), spectrum


def band_energy(frequencies, spectrum, centre, width=15.0) -> float:
    return float(np.sum(spectrum[np.abs(frequencies - centre) < width] ** 2))


# ----------------------------------------------------------------------------- synthesizer


def test_same_seed_gives_identical_audio_and_other_seeds_differ():
    first = synthesize_clip(seed=3, index=5, seconds=1.5)
    again = synthesize_clip(seed=3, index=5, seconds=1.5)
    assert np.array_equal(first.audio, again.audio)
    assert first.labels == again.labels
    for other in (synthesize_clip(4, 5, 1.5), synthesize_clip(3, 6, 1.5), synthesize_clip(3, 5, 1.5, stream=1)):
        assert other.audio.shape == first.audio.shape
        assert not np.allclose(other.audio, first.audio)


def test_audio_is_finite_bounded_audible_and_at_its_peak_level():
    for index in range(16):
        clip = synthesize_clip(seed=0, index=index, seconds=1.5)
        assert clip.audio.dtype == np.float32 and clip.audio.shape == (int(1.5 * RATE),)
        assert np.isfinite(clip.audio).all()
        peak = float(np.abs(clip.audio).max())
        assert peak <= 1.0
        assert peak == pytest.approx(10 ** (clip.production["peak_level_db"] / 20), rel=1e-4)
        assert np.sqrt(np.mean(clip.audio**2)) > 0.05 * peak  # music, not a click in silence


def test_key_of_most_clips_is_the_best_matching_krumhansl_profile():
    truths, guesses = [], []
    for index in range(48):
        clip = synthesize_clip(seed=11, index=index, seconds=3.0)
        mir_eval.key.validate_key(clip.labels["key"])
        clip_chroma = chroma(clip.audio)
        correlations = [np.corrcoef(clip_chroma, profile)[0, 1] for profile in KEY_PROFILES]
        truths.append(clip.labels["key"])
        guesses.append(KEY_NAMES[int(np.argmax(correlations))])
    accuracy = np.mean([truth == guess for truth, guess in zip(truths, guesses)])
    weighted = np.mean([mir_eval.key.weighted_score(truth, guess) for truth, guess in zip(truths, guesses)])
    assert len(set(truths)) >= 18  # the keys are spread over the 24
    assert accuracy >= 0.45, f"template key accuracy {accuracy:.2f} (chance 0.04)"
    assert weighted >= 0.6, f"MIREX weighted key score {weighted:.2f} (chance about 0.1)"


def test_notes_come_from_the_scale_of_the_labeled_key():
    ratios = []
    for index in range(24):
        phrase = compose_phrase(np.random.default_rng(index), 3.0)
        tonic = TONICS.index(phrase.tonic)
        allowed = {(tonic + step) % 12 for step in SCALES[phrase.mode]}
        if phrase.mode == "minor":
            allowed.add((tonic + 11) % 12)  # harmonic minor's leading tone over the dominant
        assert {note.pitch % 12 for note in phrase.notes} <= allowed, phrase.key
        dry = chroma(sum(render_phrase(phrase, RATE, np.random.default_rng(index)).values()))
        outside = [pitch_class for pitch_class in range(12) if pitch_class not in allowed]
        ratios.append(dry[list(allowed)].mean() / dry[outside].mean())
    # Harmonics put some energy outside the scale (the 5th harmonic of a minor tonic
    # is a major third), but in-scale pitch classes must dominate.
    assert min(ratios) > 1.2 and np.mean(ratios) > 2.0, ratios


def test_instrument_labels_are_exactly_the_rendered_instruments():
    for index in range(20):
        phrase = compose_phrase(np.random.default_rng(index), 2.0)
        stems = render_phrase(phrase, RATE, np.random.default_rng(100 + index))
        labels = split_tags(clip_labels(phrase)["instruments"])
        assert set(labels) <= set(INSTRUMENT_LABELS) and labels == sorted(stems)
        assert set(stems) == set(phrase.instruments)
        assert {note.family for note in phrase.notes} == set(phrase.families)
        assert phrase.drums == bool(phrase.hits) == ("drums" in phrase.instruments)
        for name, stem in stems.items():
            assert np.sqrt(np.mean(stem**2)) > 1e-3, f"{name} is labeled but silent"


def test_clip_labels_follow_the_phrase():
    for index in range(10):
        clip = synthesize_clip(seed=2, index=index, seconds=1.0)
        assert clip.labels["key"] == clip.phrase.key and clip.labels["mode"] == clip.phrase.mode
        assert clip.labels["instruments"] == ";".join(sorted(clip.phrase.instruments))
        name, low, high = next(entry for entry in SynthConfig().tempo_classes if entry[0] == clip.labels["tempo"])
        assert low <= clip.phrase.tempo_bpm <= high


def test_family_timbres_have_their_acoustic_signatures():
    pitch, rng = 57, np.random.default_rng(0)
    f0 = midi_to_hz(pitch)

    def note(family, seconds=1.0):
        return Instrument(sample_timbre(family, np.random.default_rng(3)), RATE).render(pitch, seconds, 0.8, rng)

    frequencies, reed = magnitude_spectrum(note("reed"))
    odd = sum(band_energy(frequencies, reed, f0 * h) for h in (3, 5))
    even = sum(band_energy(frequencies, reed, f0 * h) for h in (2, 4))
    assert odd > 2 * even  # clarinet-like: odd harmonics dominate

    frequencies, mallet = magnitude_spectrum(note("mallet"))
    assert band_energy(frequencies, mallet, f0 * 3.93, 40) + band_energy(frequencies, mallet, f0 * 4.0, 40) > 100 * band_energy(
        frequencies, mallet, f0 * 2, 15
    )  # inharmonic partial near 4 f0, nothing at the octave

    def centroid(audio):
        frequencies, spectrum = magnitude_spectrum(audio)
        return float(np.sum(frequencies * spectrum**2) / np.sum(spectrum**2))

    assert centroid(note("brass")) > 1.5 * centroid(note("flute"))

    def tail_to_head_energy(audio):
        quarter = audio.size // 4
        return float(np.sum(audio[-2 * quarter : -quarter] ** 2) / np.sum(audio[:quarter] ** 2))

    assert tail_to_head_energy(note("piano", 2.0)) < 0.3  # struck: decays while held
    assert tail_to_head_energy(note("organ", 2.0)) > 0.5  # sustained while held


def test_config_rejects_impossible_instrument_counts():
    with pytest.raises(ValueError, match="instruments_per_clip"):
        SynthConfig(families=("piano", "organ"), instruments_per_clip=(1, 3))


# ----------------------------------------------------------------------------- dataset

SMALL = dict(num_clips=40, clip_seconds=1.0, labeled_fraction=0.1, probe_clips=(12, 6, 8), seed=5)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo_data")
    return folder, generate_dataset(folder, **SMALL)


def test_manifests_have_expected_counts_labels_and_disjoint_splits(small_dataset):
    folder, paths = small_dataset
    expected = {"pretrain", "metadata"} | {f"labeled_{name}" for name in STYLE_FREE_LABEL_TYPES}
    expected |= {f"probe_{name}_{split}" for name in STYLE_FREE_LABEL_TYPES for split in ("train", "valid", "test")}
    assert set(paths) == expected
    manifests = {name: read_manifest(path) for name, path in paths.items()}
    pretrain = manifests["pretrain"]
    assert len(pretrain) == 40 and all(row["labels"] == "" for row in pretrain.values())
    for name, kind in STYLE_FREE_LABEL_TYPES.items():
        labeled = manifests[f"labeled_{name}"]
        assert len(labeled) == 4 and set(labeled) <= set(pretrain)
        splits = [set(manifests[f"probe_{name}_{split}"]) for split in ("train", "valid", "test")]
        assert [len(split) for split in splits] == [12, 6, 8]
        assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])
        assert not (set().union(*splits) & set(pretrain))
        assert splits == [set(manifests[f"probe_key_{split}"]) for split in ("train", "valid", "test")]
        cells = [row["labels"] for split in ("train", "valid", "test") for row in manifests[f"probe_{name}_{split}"].values()]
        vocabulary = LabelVocabulary.from_cells(kind, cells)
        if name == "key":
            for cell in cells:
                mir_eval.key.validate_key(cell)
            assert set(vocabulary.names) <= set(KEY_NAMES)
        if name == "instruments":
            assert set(vocabulary.names) <= set(INSTRUMENT_LABELS) and all(";" in cell or cell in INSTRUMENT_LABELS for cell in cells)
    metadata = manifests["metadata"]
    assert len(metadata) == 40 + 26
    for clip_id, row in manifests["probe_key_test"].items():
        assert row["labels"] == metadata[clip_id]["key"]
        assert manifests["probe_tempo_test"][clip_id]["labels"] == metadata[clip_id]["tempo"]


def test_wav_files_are_16_bit_clips_matching_the_synthesizer(small_dataset):
    folder, paths = small_dataset
    rows = read_manifest(paths["metadata"])
    for clip_id, row in list(rows.items())[:5] + list(rows.items())[-3:]:
        info = soundfile.info(row["wav"])
        assert (info.samplerate, info.frames, info.channels, info.subtype) == (RATE, RATE, 1, "PCM_16")
        assert float(row["duration"]) == 1.0
    row = rows["probe_valid_00002"]
    audio, _ = soundfile.read(row["wav"], dtype="float32")
    clip = synthesize_clip(SMALL["seed"], 2, 1.0, stream=demo_dataset.POOL_STREAMS["probe_valid"])
    assert np.abs(audio - clip.audio).max() < 1e-4
    assert row["key"] == clip.labels["key"] and row["instruments"] == clip.labels["instruments"]


def test_same_parameters_reuse_the_cache_without_touching_files(small_dataset):
    folder, paths = small_dataset
    before = {path: path.stat().st_mtime_ns for path in folder.rglob("*")}
    assert generate_dataset(folder, **SMALL) == paths
    after = {path: path.stat().st_mtime_ns for path in folder.rglob("*")}
    assert after == before
    record = dataset_record(folder)
    assert record["params"]["seed"] == SMALL["seed"] and record["label_kinds"] == STYLE_FREE_LABEL_TYPES
    assert len(record["audio_sha256"]) == 64


def test_other_parameters_in_a_used_folder_raise_a_clear_error(small_dataset):
    folder, _ = small_dataset
    with pytest.raises(DatasetCacheError, match=r"seed: 5 there, 6 asked.*another folder"):
        generate_dataset(folder, **{**SMALL, "seed": 6})


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="labeled_fraction"):
        generate_dataset(tmp_path, num_clips=4, labeled_fraction=1.5)
    with pytest.raises(ValueError, match="label_types"):
        generate_dataset(tmp_path, num_clips=4, label_types=("genre",))
    assert not (tmp_path / "dataset.json").exists()


def test_interrupted_generation_is_redone_and_matches_a_clean_run(tmp_path, monkeypatch):
    params = dict(num_clips=6, clip_seconds=0.5, probe_clips=(2, 1, 1), seed=9, label_types=("key",))
    generate_dataset(tmp_path / "clean", **params)
    real = demo_dataset.synthesize_clip
    calls = []

    def crash_after_three(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(demo_dataset, "synthesize_clip", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(tmp_path / "broken", **params)
    assert not (tmp_path / "broken" / "dataset.json").exists()
    assert not list((tmp_path / "broken").glob("*.csv"))
    monkeypatch.setattr(demo_dataset, "synthesize_clip", real)
    generate_dataset(tmp_path / "broken", **params)
    assert dataset_record(tmp_path / "broken")["audio_sha256"] == dataset_record(tmp_path / "clean")["audio_sha256"]
    assert not list((tmp_path / "broken").rglob("*.tmp"))


def test_parallel_generation_writes_the_same_audio(tmp_path):
    params = dict(num_clips=6, clip_seconds=0.5, probe_clips=(2, 1, 1), seed=4, label_types=("tempo",))
    generate_dataset(tmp_path / "serial", **params)
    generate_dataset(tmp_path / "parallel", num_workers=2, **params)
    assert dataset_record(tmp_path / "serial")["audio_sha256"] == dataset_record(tmp_path / "parallel")["audio_sha256"]


def test_a_moved_dataset_gets_its_manifests_rewritten(tmp_path):
    params = dict(num_clips=3, clip_seconds=0.5, probe_clips=(1, 1, 1), seed=1, label_types=("mode",))
    generate_dataset(tmp_path / "original", **params)
    shutil.move(tmp_path / "original", tmp_path / "moved")
    audio_times = {path: path.stat().st_mtime_ns for path in (tmp_path / "moved" / "audio").iterdir()}
    paths = generate_dataset(tmp_path / "moved", **params)
    for path in paths.values():
        for row in read_manifest(path).values():
            assert row["wav"].startswith(str(tmp_path / "moved" / "audio"))
            assert soundfile.info(row["wav"]).frames == RATE // 2
    assert {path: path.stat().st_mtime_ns for path in (tmp_path / "moved" / "audio").iterdir()} == audio_times
    assert json.loads((tmp_path / "moved" / "dataset.json").read_text())["folder"] == str(tmp_path / "moved")


# ----------------------------------------------------------------------------- styles


def test_default_config_audio_is_the_style_free_draw_from_the_first_three_streams():
    for seed, index, stream in ((0, 0, 0), (2, 5, 3), (7, 1, 1)):
        clip = synthesize_clip(seed, index, 1.0, stream=stream)
        compose_rng, render_rng, produce_rng = (
            np.random.default_rng(child) for child in np.random.SeedSequence([seed, stream, index]).spawn(3)
        )
        phrase = compose_phrase(compose_rng, 1.0, SynthConfig())
        audio, _ = produce(render_phrase(phrase, RATE, render_rng), RATE, produce_rng, SynthConfig())
        assert np.array_equal(clip.audio, audio)
        assert "style" not in clip.labels and clip.phrase.style is None


def test_styles_are_drawn_uniformly_from_their_own_stream():
    config = SynthConfig(styles=STYLE_NAMES)
    draws = [draw_style(clip_random_streams(0, 0, index)[3], config) for index in range(1000)]
    counts = {name: draws.count(name) for name in STYLE_NAMES}
    assert sum(counts.values()) == 1000
    assert all(140 <= count <= 260 for count in counts.values()), counts  # 200 expected, sd 12.6
    clip = synthesize_clip(0, 3, 0.5, config=config)
    assert clip.labels["style"] == draws[3] == clip.phrase.style


def style_phrases(style, count=200):
    config = STYLES[style].apply(SynthConfig(styles=STYLE_NAMES))
    return [compose_phrase(np.random.default_rng([index, 42]), 3.0, config, style) for index in range(count)]


def test_each_style_sets_its_instruments_drums_and_tempo():
    phrases = {style: style_phrases(style) for style in STYLE_NAMES}
    share = {style: {family: np.mean([family in p.families for p in items]) for family in INSTRUMENT_LABELS}
             for style, items in phrases.items()}
    for style, items in phrases.items():
        profile = STYLES[style]
        favoured = [family for family, weight in profile.family_weights.items() if weight >= 3.0]
        rare = [family for family, weight in profile.family_weights.items() if weight <= 0.5]
        assert np.mean([share[style][f] for f in favoured]) > 2 * np.mean([share[style][f] for f in rare]), style
        drums = np.mean([p.drums for p in items])
        assert abs(drums - profile.drums_probability) < 0.1, (style, drums)
        tempos = [p.tempo_class for p in items]
        for tempo in ("slow", "medium", "fast"):
            assert abs(tempos.count(tempo) / len(tempos) - profile.tempo_weights.get(tempo, 0.0)) < 0.1, (style, tempo)
    assert share["rock"]["guitar"] > 2 * share["jazz"]["guitar"]
    assert share["jazz"]["reed"] > 3 * share["rock"]["reed"]
    assert share["electronic"]["mallet"] > 2 * share["folk"]["mallet"]
    assert share["ballad"]["piano"] > 2 * share["electronic"]["piano"]


def test_each_style_plays_its_groove_swing_and_harmonic_rhythm():
    # Electronic: quantised four on the floor, a kick on every beat and nowhere else.
    for phrase in style_phrases("electronic", 40):
        beat = 60.0 / phrase.tempo_bpm
        kicks = [hit.onset for hit in phrase.hits if hit.drum == "kick"]
        assert phrase.drums and len(kicks) == int(np.ceil(3.0 / beat))
        assert np.allclose(np.array(kicks) / beat, np.round(np.array(kicks) / beat), atol=1e-9)
    # Swing: jazz off-beat eighths land about a third of an eighth late, the others on the off-beat.
    def offbeat_counts(style):
        phases = [(note.onset / (60.0 / p.tempo_bpm)) % 1.0 for p in style_phrases(style, 100) for note in p.notes]
        return sum(0.6 < phase < 0.72 for phase in phases), sum(0.45 < phase < 0.55 for phase in phases)
    late, on = offbeat_counts("jazz")
    assert late > 3 * on
    late, on = offbeat_counts("rock")
    assert on > 3 * late
    # Harmonic rhythm: a ballad's bass holds each chord (whole notes), at least a second each.
    ballad_bass = [[n for n in p.notes if n.family == "bass"] for p in style_phrases("ballad") if "bass" in p.families]
    assert len(ballad_bass) > 20
    assert all(min(n.duration for n in notes) > 0.9 * 1.0 for notes in ballad_bass)


def test_each_style_records_in_its_own_room():
    config = SynthConfig(styles=STYLE_NAMES)
    for index in range(10):
        clip = synthesize_clip(1, index, 0.5, config=config)
        profile = STYLES[clip.labels["style"]]
        assert profile.reverb_room_size[0] <= clip.production["room_size"] <= profile.reverb_room_size[1]
        assert profile.reverb_wet[0] <= clip.production["reverb_wet"] <= profile.reverb_wet[1]


def test_config_rejects_unknown_repeated_or_tempo_less_styles():
    with pytest.raises(ValueError, match="styles"):
        SynthConfig(styles=("rock", "polka"))
    with pytest.raises(ValueError, match="styles"):
        SynthConfig(styles=("rock", "rock"))
    with pytest.raises(ValueError, match="'ballad' plays none"):
        SynthConfig(styles=("ballad",), tempo_classes=(("fast", 130.0, 180.0),))


def test_a_styled_dataset_writes_style_manifests_and_a_style_free_one_refuses_them(tmp_path):
    config = SynthConfig(styles=STYLE_NAMES)
    paths = generate_dataset(tmp_path / "styled", num_clips=20, clip_seconds=0.5, labeled_fraction=0.5,
                             probe_clips=(10, 2, 2), seed=3, config=config)
    assert dataset_record(tmp_path / "styled")["label_kinds"] == LABEL_TYPES
    labeled = read_manifest(paths["labeled_style"])
    metadata = read_manifest(paths["metadata"])
    assert len(labeled) == 10
    for clip_id, row in labeled.items():
        assert row["labels"] in STYLE_NAMES and row["labels"] == metadata[clip_id]["style"]
    assert {row["labels"] for row in read_manifest(paths["probe_style_train"]).values()} <= set(STYLE_NAMES)
    with pytest.raises(ValueError, match="draws no style"):
        generate_dataset(tmp_path / "plain", num_clips=4, label_types=("style",))
