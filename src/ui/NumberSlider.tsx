/** A slider with an exact-value box beside it: sliders for exploring, the box for exact values. */
import { useId } from 'react';

interface Props {
  label: string;
  value: number;
  min: number;
  max: number;
  step: number;
  onChange(value: number): void;
  testId: string;
}

export function NumberSlider({ label, value, min, max, step, onChange, testId }: Props) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="inline">
        <input
          id={id}
          type="range"
          min={min}
          max={max}
          step={step}
          value={value}
          onChange={(e) => onChange(Number(e.target.value))}
        />
        <input
          type="number"
          className="exact"
          aria-label={`${label}, exact value`}
          min={min}
          max={max}
          step={step}
          value={value}
          onChange={(e) => e.target.value !== '' && onChange(Number(e.target.value))}
          data-testid={testId}
        />
      </div>
    </div>
  );
}
